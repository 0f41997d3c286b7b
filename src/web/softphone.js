/* global window, document, fetch, MediaStream */
/**
 * Pinhole's browser softphone: SIP.js over a SIP WebSocket, one call at a time, audio only.
 * The form drives it; `window.softphone` exposes the same actions (and media counters) for tests
 * and for pages that embed it.
 */
import { Inviter, Registerer, RegistererState, SessionState, UserAgent } from './sipjs/index.js';

const MEDIA_CONSTRAINTS = { constraints: { audio: true, video: false } };
// No STUN/TURN: Pinhole's rtpengine is ICE-lite on a public address, so host candidates are enough
// and the page never reaches out to a third-party STUN server (SIP.js defaults to Google's).
const FACTORY_OPTIONS = { peerConnectionConfiguration: { iceServers: [] } };

const elements = Object.fromEntries(
  [
    'account',
    'server',
    'user',
    'password',
    'domain',
    'register',
    'unregister',
    'target',
    'auto-answer',
    'call',
    'answer',
    'hangup',
    'status',
    'remote-audio',
  ].map((id) => [id, document.getElementById(id)]),
);

const state = {
  transport: 'disconnected',
  registration: 'unregistered',
  call: 'idle',
  peer: null,
  error: null,
};
let userAgent = null;
let registerer = null;
let session = null;
/** The current call's RTCPeerConnection, kept past SIP.js closing it so its counters stay readable. */
let connection = null;
/** The last counters read, returned once the call is over. */
let lastMediaStats = null;

function setState(changes) {
  Object.assign(state, changes);
  const parts = [state.registration, state.call === 'idle' ? null : `call ${state.call}`];
  if (state.peer && state.call !== 'idle') parts.push(state.peer);
  if (state.error) parts.push(`error: ${state.error}`);
  elements.status.textContent = parts.filter(Boolean).join(', ');
  const registered = state.registration === 'registered';
  const inCall = state.call !== 'idle' && state.call !== 'terminated';
  elements.register.disabled = registered;
  elements.unregister.disabled = !registered;
  elements.call.disabled = !registered || inCall;
  elements.answer.disabled = state.call !== 'incoming';
  elements.hangup.disabled = !inCall;
}

function fail(error) {
  setState({ error: error instanceof Error ? error.message : String(error) });
  throw error;
}

function readForm() {
  return {
    server: elements.server.value.trim(),
    user: elements.user.value.trim(),
    password: elements.password.value,
    domain: elements.domain.value.trim(),
  };
}

/** Registers with the form's account, or with `account` ({server, user, password, domain}) if given. */
async function register(account) {
  if (account) {
    for (const key of ['server', 'user', 'password', 'domain'])
      if (account[key] !== undefined) elements[key].value = account[key];
  }
  const { server, user, password, domain } = readForm();
  const uri = UserAgent.makeURI(`sip:${user}@${domain}`);
  if (!server || !uri) fail(new Error('a SIP WebSocket URL, a user and a domain are needed'));
  await stopUserAgent();
  setState({ error: null, registration: 'registering' });
  userAgent = new UserAgent({
    uri,
    transportOptions: { server },
    authorizationUsername: user,
    authorizationPassword: password,
    sessionDescriptionHandlerFactoryOptions: FACTORY_OPTIONS,
    logLevel: 'warn',
    delegate: {
      onConnect: () => setState({ transport: 'connected' }),
      onDisconnect: (error) =>
        setState({
          transport: 'disconnected',
          registration: 'unregistered',
          error: error ? error.message : null,
        }),
      onInvite: (invitation) => onInvite(invitation),
    },
  });
  try {
    await userAgent.start();
  } catch (error) {
    setState({ registration: 'unregistered' });
    fail(error);
  }
  registerer = new Registerer(userAgent);
  await new Promise((resolve, reject) => {
    registerer
      .register({
        requestDelegate: {
          onAccept: () => resolve(),
          onReject: (response) =>
            reject(
              new Error(`REGISTER refused: ${response.message.statusCode} ${response.message.reasonPhrase}`),
            ),
        },
      })
      .catch(reject);
  }).catch((error) => {
    setState({ registration: 'unregistered' });
    fail(error);
  });
  registerer.stateChange.addListener((next) => {
    if (next === RegistererState.Unregistered || next === RegistererState.Terminated)
      setState({ registration: 'unregistered' });
  });
  setState({ registration: 'registered' });
}

async function unregister() {
  await stopUserAgent();
  setState({ registration: 'unregistered' });
}

async function stopUserAgent() {
  if (!userAgent) return;
  const stopping = userAgent;
  userAgent = null;
  registerer = null;
  // stop() sends the un-REGISTER and ends any call before closing the WebSocket.
  await stopping.stop();
}

function targetUri(target) {
  const text = target.includes('@') ? target : `${target}@${readForm().domain}`;
  return UserAgent.makeURI(text.startsWith('sip:') || text.startsWith('sips:') ? text : `sip:${text}`);
}

/** Calls `target` (a user or a SIP URI); resolves once the INVITE is sent, not when answered. */
async function call(target) {
  if (!userAgent || state.registration !== 'registered') fail(new Error('register first'));
  if (session) fail(new Error('already in a call'));
  const wanted = target ?? elements.target.value.trim();
  const uri = targetUri(wanted);
  if (!uri) fail(new Error(`not a SIP target: ${wanted}`));
  elements.target.value = wanted;
  const inviter = new Inviter(userAgent, uri, { sessionDescriptionHandlerOptions: MEDIA_CONSTRAINTS });
  adopt(inviter, uri.toString(), 'calling');
  await inviter.invite().catch((error) => {
    forget(inviter);
    fail(error);
  });
}

function onInvite(invitation) {
  if (session) {
    invitation.reject({ statusCode: 486 }).catch(() => undefined);
    return;
  }
  adopt(invitation, invitation.remoteIdentity.uri.toString(), 'incoming');
  if (elements['auto-answer'].checked) answer().catch(() => undefined);
}

async function answer() {
  if (!session || state.call !== 'incoming') fail(new Error('no incoming call'));
  setState({ call: 'answering' });
  await session.accept({ sessionDescriptionHandlerOptions: MEDIA_CONSTRAINTS }).catch(fail);
}

/** Ends the call in whatever state it is: cancel, reject or BYE. */
async function hangup() {
  if (!session) return;
  const current = session;
  switch (current.state) {
    case SessionState.Initial:
    case SessionState.Establishing:
      if (current instanceof Inviter) await current.cancel();
      else await current.reject();
      break;
    case SessionState.Established:
      await current.bye();
      break;
    default:
      break;
  }
}

function adopt(newSession, peer, callState) {
  session = newSession;
  connection = null;
  lastMediaStats = null;
  setState({ call: callState, peer, error: null });
  newSession.stateChange.addListener((next) => {
    if (next === SessionState.Establishing && state.call === 'calling') setState({ call: 'ringing' });
    if (next === SessionState.Established) {
      playRemoteAudio(newSession);
      setState({ call: 'established' });
    }
    if (next === SessionState.Terminated) forget(newSession);
  });
}

async function forget(oldSession) {
  if (session !== oldSession) return;
  await mediaStats();
  session = null;
  connection = null;
  elements['remote-audio'].srcObject = null;
  setState({ call: 'idle', peer: null });
}

function playRemoteAudio(current) {
  const handler = current.sessionDescriptionHandler;
  connection = handler.peerConnection;
  const audio = elements['remote-audio'];
  audio.srcObject = handler.remoteMediaStream ?? new MediaStream();
  // Autoplay may be refused until the user interacts with the page; the stream still flows.
  audio.play().catch(() => undefined);
}

/** Audio counters from getStats(): RTP packets in and out, the codec and the SRTP cipher. */
async function readMediaStats() {
  const report = await connection.getStats();
  const stats = { packetsReceived: 0, packetsSent: 0, codec: null, srtpCipher: null, dtlsRole: null };
  report.forEach((entry) => {
    if (entry.kind === 'audio' && entry.type === 'inbound-rtp') {
      stats.packetsReceived += entry.packetsReceived ?? 0;
      const codec = entry.codecId ? report.get(entry.codecId) : undefined;
      if (codec) stats.codec = codec.mimeType;
    }
    if (entry.kind === 'audio' && entry.type === 'outbound-rtp') stats.packetsSent += entry.packetsSent ?? 0;
    if (entry.type === 'transport') {
      stats.srtpCipher = entry.srtpCipher ?? stats.srtpCipher;
      stats.dtlsRole = entry.dtlsRole ?? stats.dtlsRole;
    }
  });
  return stats;
}

async function mediaStats() {
  if (connection) lastMediaStats = await readMediaStats().catch(() => lastMediaStats);
  return lastMediaStats;
}

elements.account.addEventListener('submit', (event) => {
  event.preventDefault();
  register().catch(() => undefined);
});
elements.unregister.addEventListener('click', () => unregister().catch(fail));
elements.call.addEventListener('click', () => call().catch(() => undefined));
elements.answer.addEventListener('click', () => answer().catch(() => undefined));
elements.hangup.addEventListener('click', () => hangup().catch(fail));

window.softphone = {
  register,
  unregister,
  call,
  answer,
  hangup,
  /** A copy: {transport, registration, call, peer, error}. */
  get state() {
    return { ...state };
  },
  mediaStats,
  /** inbound-rtp audio packetsReceived of the current (or last) call; 0 without one. */
  async inboundAudioPackets() {
    return (await mediaStats())?.packetsReceived ?? 0;
  },
  async outboundAudioPackets() {
    return (await mediaStats())?.packetsSent ?? 0;
  },
  setAutoAnswer(enabled) {
    elements['auto-answer'].checked = Boolean(enabled);
  },
};

fetch('config.json')
  .then((response) => (response.ok ? response.json() : {}))
  .then((config) => {
    if (config.sipWebSocketUrl && !elements.server.value) elements.server.value = config.sipWebSocketUrl;
  })
  .catch(() => undefined)
  .finally(() => {
    setState({});
    window.softphone.ready = true;
  });
