#!/usr/bin/env python3
# Tagged frames on a wire, for the sub-interface tests (this kernel has no
# 8021q VLAN devices, so the peer speaks VLAN through a packet socket).
#   send IFACE DSTMAC SRCMAC TPID VLAN SRCIP DSTIP DPORT COUNT   (VLAN 0: untagged)
#   recv IFACE TPID VLAN DPORT COUNT TIMEOUT_MS  -> prints "ready", then {"matched": N, "other": M}
import json, socket, struct, sys, time

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_AUXDATA = 8
TP_STATUS_VLAN_VALID = 1 << 4
TP_STATUS_VLAN_TPID_VALID = 1 << 6


def mac(s):
    return bytes(int(x, 16) for x in s.split(':'))


def csum(b):
    if len(b) % 2:
        b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    s += s >> 16
    return ~s & 0xffff


def send(iface, dst, src, tpid, vlan, sip, dip, dport, count):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    l2 = mac(dst) + mac(src)
    if int(vlan):
        l2 += struct.pack('!HH', int(tpid, 16), int(vlan))
    l2 += struct.pack('!H', 0x0800)
    for seq in range(int(count)):
        payload = struct.pack('!I', seq) + bytes(60)
        udp = struct.pack('!HHHH', 40000, int(dport), 8 + len(payload), 0) + payload
        ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), seq & 0xffff, 0, 64, 17, 0,
                         socket.inet_aton(sip), socket.inet_aton(dip))
        ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
        s.send(l2 + ip + udp)
    print(json.dumps({'sent': int(count)}))


def recv(iface, tpid, vlan, dport, count, timeout_ms):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    s.bind((iface, 0))
    s.settimeout(0.1)
    print('ready', flush=True)
    matched = other = 0
    end = time.time() + int(timeout_ms) / 1000
    while time.time() < end and matched < int(count):
        try:
            data, anc, _, addr = s.recvmsg(9300, socket.CMSG_SPACE(32))
        except socket.timeout:
            continue
        if addr[2] == socket.PACKET_OUTGOING:
            continue
        tag = None
        for level, typ, cdata in anc:
            if level == SOL_PACKET and typ == PACKET_AUXDATA and len(cdata) >= 20:
                status, _, _, _, _, tci, tp = struct.unpack('IIIHHHH', cdata[:20])
                if status & TP_STATUS_VLAN_VALID:
                    tag = (tp if status & TP_STATUS_VLAN_TPID_VALID else 0x8100, tci & 0xfff)
        et = struct.unpack('!H', data[12:14])[0]
        off = 14
        if tag is None and et in (0x8100, 0x88a8):  # tag left in the frame
            tag = (et, struct.unpack('!H', data[14:16])[0] & 0xfff)
            et = struct.unpack('!H', data[16:18])[0]
            off = 18
        if et == 0x0800 and len(data) >= off + 24 and data[off + 9] == 17 and \
                struct.unpack('!H', data[off + 22:off + 24])[0] == int(dport):
            if tag == (int(tpid, 16), int(vlan)):
                matched += 1
            else:
                other += 1
    print(json.dumps({'matched': matched, 'other': other}), flush=True)


if __name__ == '__main__':
    {'send': send, 'recv': recv}[sys.argv[1]](*sys.argv[2:])
