import { canonicalHeaderName, headerKey, SipRequest, SipResponse, type AnySipMessage } from '../message';

export class SkeletonError extends Error {}

/**
 * Reads the partial SIP message an app sends (drachtio-srf's skeletons have no Via, often no
 * To or CSeq, and a Content-Length that counts UTF-16 units). The body is everything after
 * the blank line, as drachtio-server takes it; no header is required here.
 */
export function parseSkeleton(text: string): AnySipMessage {
  const split = text.indexOf('\r\n\r\n');
  const head = split < 0 ? text.replace(/(\r\n)+$/, '') : text.slice(0, split);
  const body = split < 0 ? '' : text.slice(split + 4);
  const lines = head.split('\r\n');
  const startLine = lines[0] ?? '';
  let message: AnySipMessage;
  const status = /^SIP\/2\.0 ([1-6][0-9]{2})(?: (.*))?$/.exec(startLine);
  if (status) {
    message = new SipResponse(Number(status[1]), status[2] ?? '');
  } else {
    const request = /^([A-Za-z]+) (\S+) SIP\/2\.0$/.exec(startLine);
    if (!request) throw new SkeletonError(`invalid start line: ${startLine.slice(0, 80)}`);
    message = new SipRequest(request[1].toUpperCase(), request[2]);
  }
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    if (line === '') continue;
    if ((line[0] === ' ' || line[0] === '\t') && message.headers.length > 0) {
      message.headers[message.headers.length - 1].value += ' ' + line.trim();
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) throw new SkeletonError(`invalid header line: ${line.slice(0, 80)}`);
    const name = line.slice(0, colon).trim();
    message.headers.push({
      name: appHeaderName(name),
      key: headerKey(name),
      value: line.slice(colon + 1).trim(),
    });
  }
  message.body = Buffer.from(body, 'utf8');
  return message;
}

/** drachtio-server capitalises header names after each dash, but keeps the app's X- names. */
function appHeaderName(name: string): string {
  return /^x-/i.test(name) ? name : canonicalHeaderName(name);
}
