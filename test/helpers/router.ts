import { trafficProcess } from '../../controller/lab/router.js';

export * from '../../controller/lab/router.js';

/**
 * `count` UDP datagrams from netns `from` to `dst`, counted by a sink in netns
 * `to` (it waits up to `timeoutMs` for them): what arrived, and how many intact.
 */
export async function udp(from: string, to: string, dst: string, count: number, timeoutMs = 4000): Promise<{ received: number; intact?: number }> {
  const sink = trafficProcess(to, ['udp-sink', dst, '5001', String(count), String(timeoutMs)]);
  await sink.ready;
  await trafficProcess(from, ['udp-send', dst, '5001', String(count), '200', '1']).result;
  return (await sink.result) as { received: number; intact?: number };
}
