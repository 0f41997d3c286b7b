import * as fs from 'node:fs';
import * as path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface HotFunction {
  /** file:function:line, with the path shortened to the project or the package. */
  location: string;
  selfPercent: number;
}

// Ticks spent waiting for I/O are not work; leave them out of the percentages.
const NOT_WORK = new Set(['(idle)']);

function shortLocation(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  let file = url.replace(/^file:\/\//, '');
  const modules = file.lastIndexOf('node_modules/');
  if (modules >= 0) file = file.slice(modules + 'node_modules/'.length);
  else if (file.includes('/dist/')) file = file.slice(file.indexOf('/dist/') + '/dist/'.length);
  else if (file === '') return functionName || '(anonymous)';
  return `${file}:${functionName || '(anonymous)'}:${lineNumber + 1}`;
}

/** Self time per function of a V8 .cpuprofile, highest first, as % of the non-idle time. */
export function topSelfTime(file: string, count: number): HotFunction[] {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, index) => {
    const node = byId.get(id);
    if (!node || NOT_WORK.has(node.callFrame.functionName)) return;
    const delta = profile.timeDeltas[index] ?? 0;
    const key = shortLocation(node);
    selfUs.set(key, (selfUs.get(key) ?? 0) + delta);
    total += delta;
  });
  return [...selfUs.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([location, us]) => ({ location, selfPercent: Math.round((1000 * us) / total) / 10 }));
}

/** The newest .cpuprofile in `dir`. */
export function newestProfile(dir: string): string | undefined {
  const files = fs
    .readdirSync(dir)
    .filter((name) => name.endsWith('.cpuprofile'))
    .map((name) => path.join(dir, name))
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  return files[0];
}
