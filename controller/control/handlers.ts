// Answers control requests from the agent's live state.
import type { Agent } from '../agent/agent.js';
import type { Request, ResponseData } from './protocol.js';

export function agentHandler(agent: Agent): (req: Request) => ResponseData[keyof ResponseData] {
  return (req) => {
    const dp = agent.dp;
    switch (req.cmd) {
      case 'status':
        return agent.nodeDataplane();
      case 'trace':
        if (req.action === 'arm') {
          dp.trace(req.count);
          return { armed: req.count };
        }
        return dp.traceRecords();
      case 'show':
        switch (req.what) {
          case 'pairs':
            return { node: agent.nodeDataplane(), settings: agent.nodeSettings, pairs: dp.pairs() };
          case 'ports':
            return { ports: dp.ports(), pairs: dp.pairs() };
          case 'fib': {
            const table = req.table ?? 0;
            const family = req.family ?? 4;
            const tables = dp.tables();
            if (!tables.includes(table)) throw new Error(`table ${table} does not exist (tables: ${tables.join(', ')})`);
            return { table, family, tables, entries: dp.fib(table, family) };
          }
          case 'neighbors':
            return { ports: dp.ports(), neighbors: dp.adjacencies().filter((a) => a.kind === 'rewrite') };
          case 'counters':
            return dp.counters();
        }
    }
  };
}
