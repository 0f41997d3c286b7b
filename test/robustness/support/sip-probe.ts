/**
 * Well-formed requests a real phone would send, to check that Pinhole still serves after it was
 * fed garbage or had a component fail: OPTIONS, and REGISTER through its digest challenge.
 */
import { randomBytes } from 'node:crypto';
import { digestResponse, ha1 } from '../../../src/registrar/digest';
import { REALM } from '../../support/pinhole';
import { exchange, type Exchange, type WireProtocol } from './wire-client';

export interface Target {
  protocol: WireProtocol;
  host: string;
  port: number;
}

const WAIT_MS = 3000;

function token(): string {
  return randomBytes(6).toString('hex');
}

export function finalStatus(result: Exchange): number | null {
  for (const reply of result.replies) {
    const m = /^SIP\/2\.0 ([2-6]\d\d) /.exec(reply);
    if (m) return Number(m[1]);
  }
  return null;
}

function finalReply(result: Exchange): string | undefined {
  return result.replies.find((r) => /^SIP\/2\.0 [2-6]\d\d /.test(r));
}

export function optionsText(target: Target): string {
  const id = token();
  return (
    `OPTIONS sip:${target.host}:${target.port} SIP/2.0\r\n` +
    `Via: SIP/2.0/${target.protocol.toUpperCase()} 192.168.1.60:5062;branch=z9hG4bK-o${id};rport\r\n` +
    `From: <sip:probe@${REALM}>;tag=${id}\r\nTo: <sip:${target.host}:${target.port}>\r\n` +
    `Call-ID: probe-${id}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`
  );
}

/** The final status Pinhole gives an ordinary OPTIONS (null: none within the wait). */
export async function optionsStatus(target: Target, waitMs = WAIT_MS): Promise<number | null> {
  const result = await exchange(Buffer.from(optionsText(target)), { ...target, waitMs, untilFinal: true });
  return finalStatus(result);
}

export interface RegisterAttempt {
  user: string;
  password: string;
  /** Contact to bind; null fetches the current bindings (RFC 3261 §10.2.3). */
  contact: string | null;
  expires?: number;
  waitMs?: number;
}

export interface RegisterOutcome {
  /** Final status of the authenticated REGISTER, or of the first one when it was not challenged. */
  status: number | null;
  /** The final response text, if any. */
  reply?: string;
}

function registerText(
  target: Target,
  a: RegisterAttempt,
  callId: string,
  cseq: number,
  auth?: string,
): string {
  const id = token();
  const lines = [
    `REGISTER sip:${REALM} SIP/2.0`,
    `Via: SIP/2.0/${target.protocol.toUpperCase()} 192.168.1.60:5062;branch=z9hG4bK-r${id};rport`,
    `From: <sip:${a.user}@${REALM}>;tag=${id}`,
    `To: <sip:${a.user}@${REALM}>`,
    `Call-ID: ${callId}`,
    `CSeq: ${cseq} REGISTER`,
    'Max-Forwards: 70',
    ...(a.contact === null ? [] : [`Contact: ${a.contact}`, `Expires: ${a.expires ?? 3600}`]),
    ...(auth ? [`Authorization: ${auth}`] : []),
    'Content-Length: 0',
  ];
  return `${lines.join('\r\n')}\r\n\r\n`;
}

function quotedParam(header: string, name: string): string | undefined {
  return new RegExp(`${name}="([^"]*)"`, 'i').exec(header)?.[1];
}

/** REGISTER, answer the MD5 challenge, REGISTER again: what a phone does at boot. */
export async function register(target: Target, attempt: RegisterAttempt): Promise<RegisterOutcome> {
  const waitMs = attempt.waitMs ?? WAIT_MS;
  const callId = `reg-${token()}`;
  const first = await exchange(Buffer.from(registerText(target, attempt, callId, 1)), {
    ...target,
    waitMs,
    untilFinal: true,
  });
  const challenge = finalReply(first);
  if (finalStatus(first) !== 401 || !challenge) return { status: finalStatus(first), reply: challenge };
  const header = challenge
    .split('\r\n')
    .find((line) => /^WWW-Authenticate:\s*Digest\s/i.test(line) && /algorithm=MD5/i.test(line));
  const nonce = header && quotedParam(header, 'nonce');
  if (!nonce) throw new Error(`401 without an MD5 challenge:\n${challenge}`);
  const uri = `sip:${REALM}`;
  const cnonce = token();
  const response = digestResponse({
    algorithm: 'MD5',
    ha1: ha1('MD5', attempt.user, REALM, attempt.password),
    method: 'REGISTER',
    uri,
    nonce,
    qop: { qop: 'auth', nc: '00000001', cnonce },
  });
  const auth =
    `Digest username="${attempt.user}", realm="${REALM}", nonce="${nonce}", uri="${uri}", ` +
    `response="${response}", algorithm=MD5, qop=auth, nc=00000001, cnonce="${cnonce}"`;
  const second = await exchange(Buffer.from(registerText(target, attempt, callId, 2, auth)), {
    ...target,
    waitMs,
    untilFinal: true,
  });
  return { status: finalStatus(second), reply: finalReply(second) };
}

/** Contact URIs listed in a REGISTER response. */
export function listedContacts(reply: string | undefined): string[] {
  if (!reply) return [];
  const contacts: string[] = [];
  for (const line of reply.split('\r\n')) {
    const m = /^(?:Contact|m)\s*:\s*(.*)$/i.exec(line);
    if (!m) continue;
    for (const uri of m[1].matchAll(/<([^>]+)>/g)) contacts.push(uri[1]);
  }
  return contacts;
}
