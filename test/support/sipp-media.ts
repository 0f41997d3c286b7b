/**
 * SIPp calls whose media belongs to the test: the b2b-* scenarios advertise an RtpEndpoint's port
 * (key rtp_port) on an address of the test's choosing (key sdp_ip), and the test reads the SDP each
 * SIPp instance received, while the call is up, to learn where its endpoint must send RTP.
 *
 * startMediaCall / startMediaServer wrap runSipp / startSippServer (test/support/sipp.ts) and point
 * SIPp's -message_file at a file of their own (a later -message_file overrides the harness's), which
 * SIPp writes message by message; receivedSdps() reads it at any time. The final SippResult's
 * `messages` is filled from that file, so parseMessageLog works on it as usual.
 *
 * Keys (all scenarios below are UDP-tested; pass keys through `keys`, e.g. mediaKeys(endpoint, ip)):
 *   sdp_ip        connection address in the SDP. Phones: a private LAN address (192.168.x), also used
 *                 in their Via sent-by (with rport) and Contact, port 5062, never contacted. PBX: an
 *                 internal 10.x address; its Via and Contact stay its real [local_ip]:[local_port].
 *                 Talking sipp to sipp directly, use 127.0.0.1 so the endpoints reach each other.
 *   rtp_port      audio port in the SDP: the test's RtpEndpoint.port.
 *   caller        From user of requests a UAC sends (harness default "sipp").
 *   answer_status, challenge   b2b-answer-status only.
 * `service` (-s) is the called user; `<pause/>` lasts pauseMs. Digest credentials: extraArgs
 * ['-au', user, '-ap', password]; SIPp's digest uri is sip:<remote_ip>:<remote_port> unless
 * '-auth_uri' is given too.
 *
 * Scenarios (UAC = startMediaCall, UAS = startMediaServer) and the peer each expects. "[auth]" means
 * an optional 401/407 challenge: ACKed on the INVITE's branch, then the INVITE again (CSeq 2) with
 * credentials; the same scenario works with or without it.
 *   b2b-phone-call          phone UAC: INVITE [auth], [100/180/183], 200/SDP, ACK, pause, BYE, 200
 *                                                        peer: Pinhole | b2b-pbx-answer
 *   b2b-phone-call-wait-bye phone UAC: call up as above, accepts re-INVITEs, waits for BYE, 200
 *                                                        peer: Pinhole | b2b-pbx-answer-hangup
 *   b2b-phone-reinvite-hold phone UAC: call up, pause, re-INVITE sendonly (answer recvonly|inactive),
 *                           pause, re-INVITE sendrecv (answer two-way), pause, BYE
 *                                                        peer: Pinhole | b2b-pbx-answer
 *   b2b-phone-cancel        phone UAC: INVITE [auth], 180|183, CANCEL, 200 + 487 any order, ACK
 *                                                        peer: Pinhole | b2b-pbx-ring-no-answer
 *   b2b-expect-480, -503    phone UAC: INVITE [auth], [100/180/183], 480|503, ACK
 *   b2b-expect-403, -404    phone UAC: INVITE, [100/180/183], 403|404, ACK; a challenge fails them
 *                                                        peer: Pinhole | b2b-answer-status
 *   b2b-phone-answer        phone UAS: INVITE, 180, 200/SDP, ACK, accepts re-INVITEs, BYE, 200
 *                                                        peer: Pinhole | b2b-pbx-call, b2b-pbx-reinvite-hold
 *   b2b-phone-answer-hangup phone UAS: INVITE, 180, 200/SDP, ACK, pause, BYE, 200
 *                                                        peer: Pinhole | b2b-pbx-call-wait-bye
 *   b2b-pbx-answer          PBX UAS: INVITE, 100, 180, 200/SDP, ACK, accepts re-INVITEs, BYE, 200
 *                                                        peer: Pinhole | b2b-phone-call, -reinvite-hold
 *   b2b-pbx-answer-hangup   PBX UAS: INVITE, 100, 180, 200/SDP, ACK, pause, BYE, 200
 *                                                        peer: Pinhole | b2b-phone-call-wait-bye
 *   b2b-pbx-call            PBX UAC: INVITE, [100/180/183], 200/SDP, ACK, pause, BYE, 200
 *                                                        peer: Pinhole | b2b-phone-answer
 *   b2b-pbx-call-wait-bye   PBX UAC: call up, accepts re-INVITEs, waits for BYE, 200
 *                                                        peer: Pinhole | b2b-phone-answer-hangup
 *   b2b-pbx-reinvite-hold   PBX UAC: call up, hold and resume by re-INVITE as the phone's, BYE
 *                                                        peer: Pinhole | b2b-phone-answer
 *   b2b-pbx-ring-no-answer  PBX UAS: INVITE, 100, 180, CANCEL, 200, 487, ACK (no keys)
 *                                                        peer: Pinhole | b2b-phone-cancel
 *   b2b-pbx-noanswer        PBX UAS that never responds (failover tests). A CANCEL, should one come,
 *                           gets 200 + 487 + ACK; otherwise the call ends by itself 40 s after the
 *                           INVITE. stop() ends it sooner: exit 0, the call counted neither way. No keys.
 *                                                        peer: Pinhole
 *   b2b-answer-status       stand-in callee: INVITE, [407 if challenge=yes, ACK, INVITE with
 *                           Proxy-Authorization], 100, answer_status (403 404 480 486 503 603), ACK
 *                                                        peer: b2b-expect-*
 * Re-INVITE acceptors answer 200 with SDP mirroring the offer's direction (sendonly -> recvonly,
 * recvonly -> sendonly). Every SDP is IPv4 PCMU (PT 0) plus telephone-event (PT 101).
 * test/unit/support/b2b-scenarios.test.ts runs each pair directly with RTP both ways.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  parseMessageLog,
  runSipp,
  startSippServer,
  type SippOptions,
  type SippResult,
  type SippServer,
} from './sipp';

const SDP_POLL_MS = 20;

export interface ReceivedSdps {
  /** Bodies of the SDP-carrying messages this SIPp received so far, oldest first, retransmissions once. */
  receivedSdps(): string[];
  /**
   * Resolves with the `count`-th SDP received (1 = the first) once it has arrived. Rejects after
   * `timeoutMs`, or as soon as SIPp exits without it.
   */
  waitForSdp(count: number, timeoutMs: number): Promise<string>;
}

export interface MediaSippCall extends ReceivedSdps {
  done: Promise<SippResult>;
}

export interface MediaSippServer extends SippServer, ReceivedSdps {}

/** The keys that put `endpoint`'s port, on `sdpIp`, into a b2b scenario's SDP. */
export function mediaKeys(endpoint: { port: number }, sdpIp: string): Record<string, string> {
  return { sdp_ip: sdpIp, rtp_port: String(endpoint.port) };
}

function isSdpMessage(head: string): boolean {
  return /^(content-type|c)[ \t]*:[ \t]*application\/sdp/im.test(head);
}

/**
 * SDP bodies of the received messages in a -trace_msg log (a SippResult's `messages`, or the result
 * itself): INVITEs, re-INVITEs, 183s, 200s, whatever carried application/sdp. A retransmission is
 * byte-identical to its original and is listed once.
 */
export function receivedSdps(source: SippResult | string): string[] {
  const log = typeof source === 'string' ? source : source.messages;
  const seen = new Set<string>();
  const bodies: string[] = [];
  for (const message of parseMessageLog(log)) {
    if (message.direction !== 'received' || seen.has(message.text)) continue;
    seen.add(message.text);
    const split = message.text.indexOf('\r\n\r\n');
    if (split < 0) continue;
    const body = message.text.slice(split + 4);
    if (body.trim() !== '' && isSdpMessage(message.text.slice(0, split))) bodies.push(body);
  }
  return bodies;
}

interface LiveTrace extends ReceivedSdps {
  options: SippOptions;
  /** Keeps the log in memory, removes the file, and fills the result's messages from it. */
  finish(result: SippResult): SippResult;
  /** For a SIPp that could not even start: only cleans up. */
  abandon(): void;
}

function liveTrace(options: SippOptions): LiveTrace {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pinhole-sipp-media-'));
  const file = path.join(dir, 'messages.log');
  let finalLog: string | undefined;
  const read = (): string => {
    if (finalLog !== undefined) return finalLog;
    try {
      return fs.readFileSync(file, 'utf8');
    } catch {
      return '';
    }
  };
  const current = (): string[] => receivedSdps(read());

  const waitForSdp = (count: number, timeoutMs: number): Promise<string> =>
    new Promise((resolve, reject) => {
      const deadline = Date.now() + timeoutMs;
      const poll = (): void => {
        const sdps = current();
        if (sdps.length >= count) {
          resolve(sdps[count - 1]);
        } else if (finalLog !== undefined || Date.now() >= deadline) {
          const why = finalLog !== undefined ? 'SIPp exited' : `${timeoutMs} ms passed`;
          reject(new Error(`${why} with ${sdps.length} SDP(s) received, waiting for ${count}\n${read()}`));
        } else {
          setTimeout(poll, SDP_POLL_MS);
        }
      };
      poll();
    });

  return {
    options: { ...options, extraArgs: [...(options.extraArgs ?? []), '-message_file', file] },
    receivedSdps: current,
    waitForSdp,
    finish: (result) => {
      finalLog = read() || result.messages;
      fs.rmSync(dir, { recursive: true, force: true });
      return { ...result, messages: finalLog };
    },
    abandon: () => {
      finalLog = '';
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Starts a UAC scenario (one call unless `calls` says otherwise) whose received SDPs can be read live. */
export function startMediaCall(options: SippOptions): MediaSippCall {
  const trace = liveTrace(options);
  const done = runSipp(trace.options).then(trace.finish, (error: unknown) => {
    trace.abandon();
    throw error;
  });
  return { done, receivedSdps: trace.receivedSdps, waitForSdp: trace.waitForSdp };
}

/** Starts a UAS scenario, as startSippServer does, whose received SDPs can be read live. */
export function startMediaServer(options: SippOptions): MediaSippServer {
  const trace = liveTrace(options);
  const server = startSippServer(trace.options);
  const done = server.done.then(trace.finish, (error: unknown) => {
    trace.abandon();
    throw error;
  });
  return {
    ready: server.ready,
    done,
    stop: () => server.stop().then(() => done),
    receivedSdps: trace.receivedSdps,
    waitForSdp: trace.waitForSdp,
  };
}
