/**
 * A UDP endpoint to run inside a lab namespace (`ip netns exec NS node udp-peer.js`), driven by
 * JSON lines on stdin and reporting JSON lines on stdout; `UdpPeer` in peer-control.ts is its
 * other half. Echo sockets answer every datagram with the source address they saw, which is how
 * a test learns what a NAT made of a phone's address.
 *
 * Commands: {id, op:'bind', socket, port?, address?, echo?} -> {id, ok, port, address}
 *           {id, op:'send', socket, host, port, data}       -> {id, ok}
 * Events:   {event:'message', socket, from:{address, port}, data}, {event:'error', socket, error}
 * Failures answer {id, ok:false, error}. The program exits when stdin closes.
 * Never aim an echo socket at another echo socket: they would bounce one datagram forever.
 */
import * as dgram from 'node:dgram';
import * as readline from 'node:readline';

export interface EchoReply {
  /** The source address and port the echo socket saw. */
  seenFrom: { address: string; port: number };
  /** The local port that answered. */
  port: number;
  data: string;
}

interface Command {
  id: number;
  op: 'bind' | 'send';
  socket: string;
  port?: number;
  address?: string;
  echo?: boolean;
  host?: string;
  data?: string;
}

const sockets = new Map<string, dgram.Socket>();

function emit(line: object): void {
  process.stdout.write(JSON.stringify(line) + '\n');
}

function bind(command: Command): void {
  if (sockets.has(command.socket)) throw new Error(`socket '${command.socket}' exists`);
  const socket = dgram.createSocket('udp4');
  socket.on('message', (message, remote) => {
    const data = message.toString();
    emit({
      event: 'message',
      socket: command.socket,
      from: { address: remote.address, port: remote.port },
      data,
    });
    if (!command.echo) return;
    const reply: EchoReply = {
      seenFrom: { address: remote.address, port: remote.port },
      port: socket.address().port,
      data,
    };
    socket.send(JSON.stringify(reply), remote.port, remote.address);
  });
  let bound = false;
  socket.on('error', (error) =>
    emit(
      bound
        ? { event: 'error', socket: command.socket, error: error.message }
        : { id: command.id, ok: false, error: error.message },
    ),
  );
  socket.bind({ port: command.port ?? 0, address: command.address ?? '0.0.0.0' }, () => {
    bound = true;
    sockets.set(command.socket, socket);
    const local = socket.address();
    emit({ id: command.id, ok: true, port: local.port, address: local.address });
  });
}

function send(command: Command): void {
  const socket = sockets.get(command.socket);
  if (!socket) throw new Error(`no socket '${command.socket}'`);
  socket.send(command.data ?? '', command.port, command.host, (error) =>
    emit(error ? { id: command.id, ok: false, error: error.message } : { id: command.id, ok: true }),
  );
}

function handle(line: string): void {
  if (line.trim() === '') return;
  const command = JSON.parse(line) as Command;
  try {
    if (command.op === 'bind') bind(command);
    else if (command.op === 'send') send(command);
    else throw new Error(`unknown op '${String(command.op)}'`);
  } catch (error) {
    emit({ id: command.id, ok: false, error: (error as Error).message });
  }
}

if (require.main === module) {
  const input = readline.createInterface({ input: process.stdin });
  input.on('line', handle);
  input.on('close', () => process.exit(0));
}
