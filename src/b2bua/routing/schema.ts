import { z } from 'zod';
import { parseCidr } from '../../nat/address-class';
import { isSipUri, parseUri } from '../../sipserver/message';
import { sourceMatcher, textMatcher, type SourceSpec, type TextMatch } from './matchers';

/** Bounds that keep a mistaken or hostile file from costing memory or time per call. */
export const LIMITS = {
  fileBytes: 1024 * 1024,
  rules: 10_000,
  regexLength: 500,
  textLength: 200,
  uriLength: 500,
  urisPerTarget: 16,
  sourcesPerRule: 100,
  strip: 256,
  timeoutSeconds: 300,
} as const;

export const DEFAULT_TIMEOUT_SECONDS = 5;

/** A mapping that refuses keys it does not know; the message names the ones it does. */
function closedObject<T extends z.ZodRawShape>(shape: T) {
  const allowed = Object.keys(shape).join(', ');
  return z.strictObject(shape, {
    error: (issue) => (issue.code === 'unrecognized_keys' ? `allowed here: ${allowed}` : undefined),
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** YAML reads unquoted 00 as the number 0 and 1001 as a number, so say how to keep them text. */
const string = () =>
  z.string({
    error: (issue) =>
      issue.code === 'invalid_type' && (typeof issue.input === 'number' || typeof issue.input === 'boolean')
        ? `expected text, got ${typeof issue.input} ${String(issue.input)}: quote the value as meant, e.g. '00' (unquoted, YAML reads 00 as the number 0)`
        : undefined,
  });

/** Control characters would let a reason phrase or user part break the SIP message they go into. */
function hasControlChar(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

const text = (max: number = LIMITS.textLength) =>
  string()
    .min(1)
    .max(max)
    .refine((value) => !hasControlChar(value), 'control characters are not allowed');

/** Text that goes into a request-URI user part. */
const userPartText = (min: number) =>
  string()
    .min(min)
    .max(LIMITS.textLength)
    .refine(
      (value) => !hasControlChar(value) && !/[\s@<>"]/.test(value),
      'spaces, control characters, @, <, > and quotes cannot go into a user part',
    );

/** A regex compiled once, when the file loads. */
const regex = (flags: string) =>
  string()
    .min(1)
    .max(LIMITS.regexLength)
    .transform((source, ctx) => {
      try {
        return new RegExp(source, flags);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message, input: source });
        return z.NEVER;
      }
    });

/** `{exact: S}`, `{prefix: S}` or `{regex: S}`, turned into a test function. */
const textMatch = (ignoreCase: boolean) =>
  closedObject({
    exact: text().optional(),
    prefix: text().optional(),
    regex: regex(ignoreCase ? 'i' : '').optional(),
  }).transform((given, ctx) => {
    const forms: TextMatch[] = [];
    if (given.exact !== undefined) forms.push({ exact: given.exact });
    if (given.prefix !== undefined) forms.push({ prefix: given.prefix });
    if (given.regex !== undefined) forms.push({ regex: given.regex });
    if (forms.length !== 1) {
      ctx.addIssue({ code: 'custom', message: 'give exactly one of exact, prefix or regex', input: given });
      return z.NEVER;
    }
    return textMatcher(forms[0], ignoreCase);
  });

const sourceItem = string().transform((value, ctx): SourceSpec => {
  if (value === 'phones' || value === 'pbx') return { kind: value };
  try {
    return parseCidr(value);
  } catch (err) {
    ctx.addIssue({
      code: 'custom',
      message: `expected phones, pbx or a network such as 10.0.0.0/8 (${(err as Error).message})`,
      input: value,
    });
    return z.NEVER;
  }
});

const source = z
  .union([sourceItem, z.array(sourceItem).min(1).max(LIMITS.sourcesPerRule)], {
    error: 'expected phones, pbx, a network such as 10.0.0.0/8, or a list of those',
  })
  .transform((value) => sourceMatcher(Array.isArray(value) ? value : [value]));

const matchSchema = closedObject({
  source: source.optional(),
  user: textMatch(false).optional(),
  fromUser: textMatch(false).optional(),
  domain: textMatch(true).optional(),
});

const rewriteSchema = closedObject({
  strip: z.number().int().min(1).max(LIMITS.strip).optional(),
  prefix: userPartText(1).optional(),
  replace: closedObject({ regex: regex(''), with: userPartText(0) }).optional(),
}).refine(
  (rewrite) => rewrite.strip !== undefined || rewrite.prefix !== undefined || rewrite.replace !== undefined,
  'give at least one of strip, prefix or replace',
);

const sipUri = string()
  .max(LIMITS.uriLength)
  .superRefine((uri, ctx) => {
    let reason: string | null = null;
    try {
      if (!isSipUri(parseUri(uri))) reason = 'only sip: and sips: URIs can be targets';
    } catch (err) {
      reason = (err as Error).message;
    }
    if (reason !== null) {
      ctx.addIssue({
        code: 'custom',
        message: `expected a sip: or sips: URI such as sip:203.0.113.5:5060 (${reason})`,
        input: uri,
      });
    }
  });

const targetGroupSchema = closedObject({
  /** Tried in order: the next one when the previous fails or stays silent for `timeout`. */
  uris: z
    .array(sipUri)
    .min(1, 'give at least one URI')
    .max(LIMITS.urisPerTarget, `at most ${LIMITS.urisPerTarget} URIs`),
  timeout: z.number().positive().max(LIMITS.timeoutSeconds).default(DEFAULT_TIMEOUT_SECONDS),
});

const targetRef = z.union([text(), targetGroupSchema], {
  error: 'expected pbx, registrar, a name from targets:, or { uris: [...], timeout: N }',
});

const statusMessage = 'expected a status code from 400 to 699';
const rejectSchema = closedObject({
  status: z
    .number({ error: statusMessage })
    .int(statusMessage)
    .min(400, statusMessage)
    .max(699, statusMessage),
  reason: text().optional(),
});

const mediaSchema = z.enum(['always', 'nat', 'never'], { error: 'expected always, nat or never' });

/** A key the operator wrote, even when its value is wrong, so one mistake is not reported twice. */
const has = (rule: unknown, key: string) => isRecord(rule) && rule[key] !== undefined;
const always = { when: () => true };

const ruleSchema = closedObject({
  name: text(100).optional(),
  match: matchSchema.nullish(),
  rewrite: rewriteSchema.optional(),
  target: targetRef.optional(),
  reject: rejectSchema.optional(),
  media: mediaSchema.optional(),
})
  .refine((rule) => !(has(rule, 'target') && has(rule, 'reject')), {
    ...always,
    path: ['reject'],
    message: 'a rule has either a target or a reject, not both',
  })
  .refine((rule) => !isRecord(rule) || has(rule, 'target') || has(rule, 'reject'), {
    ...always,
    message: 'a rule needs a target or a reject',
  })
  .refine((rule) => !has(rule, 'reject') || !has(rule, 'rewrite'), {
    ...always,
    path: ['rewrite'],
    message: 'rewrite applies only to rules with a target',
  })
  .refine((rule) => !has(rule, 'reject') || !has(rule, 'media'), {
    ...always,
    path: ['media'],
    message: 'media applies only to rules with a target',
  });

const targetName = z
  .string()
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'a target name is letters, digits, _, . and -')
  .refine((name) => name !== 'pbx' && name !== 'registrar', 'pbx and registrar are built-in target names');

/** The whole routing file. */
export const routingFileSchema = closedObject({
  targets: z.record(targetName, targetGroupSchema).nullish(),
  rules: z
    .array(ruleSchema)
    .min(1, 'needs at least one rule (to refuse every call, add a rule with reject)')
    .max(LIMITS.rules, `at most ${LIMITS.rules} rules`),
});

export type RoutingFile = z.output<typeof routingFileSchema>;
export type RuleSpec = RoutingFile['rules'][number];
export type TargetGroupSpec = z.output<typeof targetGroupSchema>;
