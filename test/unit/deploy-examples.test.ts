/**
 * Every file of examples/deploy is checked by what would run it.
 *
 * - Kubernetes documents: validated with kubernetes-models (its JSON-schema validators:
 *   types, required fields, formats) and type-checked against its TypeScript models with
 *   the TypeScript compiler, whose excess-property check refuses unknown fields (the
 *   schemas allow them). A mutated copy of the DaemonSet proves both checks can fail.
 *   The DaemonSet gives kfn what it needs: host network, the node's bpffs, tracefs, named
 *   netns and state dir, exactly the capabilities kfn checks for, the node name as a host
 *   label through the downward API, probes on the metrics port of --metrics-addr; the
 *   Service and ServiceMonitor select it by its labels and port.
 * - systemd units: `systemd-analyze verify` (no warnings either), with the kfn binary they
 *   name, README's install path, replaced by an executable of this build.
 * - Every `kfn` command line in every example (units, workflows, DaemonSet, Dockerfile)
 *   parses with the real command tree (src/cli/program.ts).
 * - The GitOps units are there: the agent as a service, drift on a timer; the old
 *   git-pull-and-apply timer (no status, drift repaired silently) is gone.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import ts from 'typescript';
import { parseAllDocuments } from 'yaml';
import { DaemonSet } from 'kubernetes-models/apps/v1';
import { Namespace, Service, ServiceAccount } from 'kubernetes-models/v1';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { parseCommandLine } from '../../src/cli/program.js';
import { REQUIRED_CAPABILITIES } from '../../src/engine/access.js';
import { parseListenAddress } from '../../src/metrics/server.js';
import { CLI, REPO_ROOT } from '../helpers/paths.js';

const DEPLOY = path.join(REPO_ROOT, 'examples', 'deploy');
/** Where README's "Install on a host" puts the kfn command. */
const INSTALLED_KFN = '/usr/local/bin/kfn';

function filesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(path.join(dir, e.name)) : [path.join(dir, e.name)])).sort();
}
const files = filesUnder(DEPLOY);
const rel = (f: string): string => path.relative(REPO_ROOT, f);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kfn-deploy-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

// ------------------------------------------------------------------ Kubernetes

type K8sDoc = { apiVersion: string; kind: string; metadata?: { name?: string; labels?: Record<string, string> }; spec?: any };

const MODELS: Record<string, { model: new (d: any) => { validate(): void }; types: [module: string, name: string] }> = {
  'v1/Namespace': { model: Namespace, types: ['kubernetes-models/v1/Namespace', 'INamespace'] },
  'v1/ServiceAccount': { model: ServiceAccount, types: ['kubernetes-models/v1/ServiceAccount', 'IServiceAccount'] },
  'v1/Service': { model: Service, types: ['kubernetes-models/v1/Service', 'IService'] },
  'apps/v1/DaemonSet': { model: DaemonSet, types: ['kubernetes-models/apps/v1/DaemonSet', 'IDaemonSet'] },
  'monitoring.coreos.com/v1/ServiceMonitor': { model: ServiceMonitor, types: ['@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor', 'IServiceMonitor'] },
};

const isKubernetes = (f: string): boolean => /\.ya?ml$/.test(f) && fs.readFileSync(f, 'utf8').includes('apiVersion:') && !/^\s*jobs:/m.test(fs.readFileSync(f, 'utf8'));
const k8sFiles = files.filter(isKubernetes);
const k8sDocs: { file: string; doc: K8sDoc }[] = k8sFiles.flatMap((file) =>
  parseAllDocuments(fs.readFileSync(file, 'utf8')).map((d) => {
    assert.equal(d.errors.length, 0, `${rel(file)}: ${d.errors.map((e) => e.message).join('; ')}`);
    return { file, doc: d.toJS() as K8sDoc };
  }),
);

/** Type errors of `docs` against the kubernetes-models interfaces of their kinds (excess properties included). */
function typeErrors(docs: K8sDoc[]): string[] {
  const file = path.join(REPO_ROOT, 'test', `.k8s-typecheck-${process.pid}.ts`);
  const text = docs
    .map((d, i) => {
      const m = MODELS[`${d.apiVersion}/${d.kind}`];
      assert.ok(m, `no model for ${d.apiVersion} ${d.kind}`);
      return `import type { ${m.types[1]} as T${i} } from '${m.types[0]}';\nexport const d${i}: T${i} = ${JSON.stringify(d, null, 1)};\n`;
    })
    .join('');
  const options: ts.CompilerOptions = { strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, skipLibCheck: true, types: [] };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, lang, ...rest) => (path.resolve(name) === file ? ts.createSourceFile(name, text, lang) : getSourceFile(name, lang, ...rest));
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => path.resolve(name) === file || fileExists(name);
  const readFile = host.readFile.bind(host);
  host.readFile = (name) => (path.resolve(name) === file ? text : readFile(name));
  const program = ts.createProgram([file], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const where = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start) : undefined;
    return `${where ? `${where.line + 1}:${where.character + 1} ` : ''}${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
  });
}

const docOf = (kind: string, name?: string): K8sDoc => {
  const found = k8sDocs.filter((d) => d.doc.kind === kind && (name === undefined || d.doc.metadata?.name === name));
  assert.equal(found.length, 1, `one ${kind}${name ? ` ${name}` : ''} in examples/deploy`);
  return found[0]!.doc;
};

describe('examples/deploy: Kubernetes', () => {
  test('there is a DaemonSet, a ServiceAccount, a Service and a ServiceMonitor', () => {
    assert.deepEqual([...new Set(k8sDocs.map((d) => d.doc.kind))].sort(), ['DaemonSet', 'Namespace', 'Service', 'ServiceAccount', 'ServiceMonitor']);
  });

  for (const { file, doc } of k8sDocs) {
    test(`${rel(file)}: ${doc.kind} ${doc.metadata?.name} validates against the Kubernetes schema`, () => {
      const m = MODELS[`${doc.apiVersion}/${doc.kind}`];
      assert.ok(m, `no model for ${doc.apiVersion} ${doc.kind}`);
      new m.model(doc).validate();
    });
  }

  test('every document type-checks against the Kubernetes models: no unknown field, no wrong type', () => {
    assert.deepEqual(typeErrors(k8sDocs.map((d) => d.doc)), []);
  });

  test('both checks refuse a broken DaemonSet (they can fail)', () => {
    const ds = structuredClone(docOf('DaemonSet'));
    ds.spec.template.spec.hostNetwrk = true;
    const errs = typeErrors([ds]);
    assert.equal(errs.length, 1, errs.join('\n'));
    assert.match(errs[0]!, /known properties, and '"hostNetwrk"' does not exist in type 'IPodSpec'/);
    const wrongType = structuredClone(docOf('DaemonSet'));
    wrongType.spec.template.spec.hostNetwork = 'yes';
    assert.throws(() => new DaemonSet(wrongType as any).validate(), /hostNetwork must be boolean/);
  });

  test('the DaemonSet gives kfn the host network, its mounts, exactly its capabilities, the node name and probes on the metrics port', () => {
    const ds = docOf('DaemonSet');
    const pod = ds.spec.template.spec;
    assert.equal(pod.hostNetwork, true);
    const [c] = pod.containers as any[];
    assert.deepEqual(c.command, ['kfn']);
    const mounts = Object.fromEntries((c.volumeMounts as any[]).map((m) => [m.mountPath, m.name]));
    const hostPaths = Object.fromEntries((pod.volumes as any[]).filter((v) => v.hostPath).map((v) => [v.name, v.hostPath.path]));
    for (const p of ['/sys/fs/bpf', '/sys/kernel/tracing', '/var/run/netns', '/run/kfn']) assert.equal(hostPaths[mounts[p]], p, `${p} is the node's ${p}`);
    const sc = c.securityContext;
    if (sc.privileged !== true) {
      assert.deepEqual(sc.capabilities.drop, ['ALL']);
      assert.deepEqual([...sc.capabilities.add].sort(), REQUIRED_CAPABILITIES.map((n) => n.replace(/^CAP_/, '')).sort());
    }
    const env = (c.env as any[]).find((e) => e.valueFrom?.fieldRef?.fieldPath === 'spec.nodeName');
    assert.ok(env, 'the node name comes from the downward API');
    const args = c.args as string[];
    const labels = args[args.indexOf('--host-labels') + 1]!;
    assert.ok(labels.includes(`$(${env.name})`), `--host-labels ${labels} uses $(${env.name})`);
    const addr = parseListenAddress(args[args.indexOf('--metrics-addr') + 1]!);
    const port = (c.ports as any[]).find((p) => p.containerPort === addr.port);
    assert.ok(port, `a container port for --metrics-addr ${addr.port}`);
    for (const probe of [c.livenessProbe, c.readinessProbe]) assert.ok(probe.httpGet.port === port.name || probe.httpGet.port === addr.port);
    assert.equal(c.livenessProbe.httpGet.path, '/healthz');
    assert.equal(c.readinessProbe.httpGet.path, '/ready');
    const ann = ds.spec.template.metadata.annotations ?? {};
    if (ann['prometheus.io/scrape'] !== undefined) assert.equal(Number(ann['prometheus.io/port']), addr.port);
  });

  test('the Service selects the DaemonSet pods and the ServiceMonitor the Service and its port', () => {
    const ds = docOf('DaemonSet');
    const svc = docOf('Service');
    const sm = docOf('ServiceMonitor');
    const podLabels = ds.spec.template.metadata.labels as Record<string, string>;
    for (const [k, v] of Object.entries(svc.spec.selector as Record<string, string>)) assert.equal(podLabels[k], v);
    for (const [k, v] of Object.entries(sm.spec.selector.matchLabels as Record<string, string>)) assert.equal(svc.metadata?.labels?.[k], v);
    const svcPorts = (svc.spec.ports as any[]).map((p) => p.name);
    for (const e of sm.spec.endpoints as any[]) assert.ok(svcPorts.includes(e.port), e.port);
    assert.equal(ds.spec.template.spec.serviceAccountName, docOf('ServiceAccount').metadata?.name);
  });
});

// ------------------------------------------------------------------ systemd

const units = files.filter((f) => /\.(service|timer|socket|path)$/.test(f));
const hasAnalyze = spawnSync('systemd-analyze', ['--version'], { stdio: 'ignore' }).status === 0;

describe('examples/deploy: systemd units', () => {
  test('units run kfn from where README installs it', () => {
    for (const u of units) {
      for (const line of fs.readFileSync(u, 'utf8').split('\n')) {
        const m = /^Exec\w*=[-@+!:]*(\S+)/.exec(line);
        if (m && path.basename(m[1]!) === 'kfn') assert.equal(m[1], INSTALLED_KFN, `${rel(u)}: ${line}`);
      }
    }
  });

  test('systemd-analyze verify: no error, no warning', { skip: units.length === 0 ? 'no units in examples/deploy' : hasAnalyze ? false : 'systemd-analyze is not installed (scripts/bootstrap.sh installs systemd)' }, () => {
    const dir = path.join(tmp, 'units');
    fs.mkdirSync(dir, { recursive: true });
    const wrapper = path.join(tmp, 'kfn');
    fs.writeFileSync(wrapper, `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`, { mode: 0o755 });
    const copies = units.map((u) => {
      const to = path.join(dir, path.basename(u));
      fs.writeFileSync(to, fs.readFileSync(u, 'utf8').replaceAll(INSTALLED_KFN, wrapper));
      return to;
    });
    const r = spawnSync('systemd-analyze', ['verify', '--man=no', ...copies], { encoding: 'utf8', timeout: 60_000, cwd: dir });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr.trim(), '', r.stderr);
  });
});

// ------------------------------------------------------------------ kfn command lines

/** Shell-like words of one command (quotes and backslashes; no expansion), up to a redirection (`> file`, `2>&1`, `< file`). */
function words(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote: string | undefined;
  let any = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quote) {
      if (ch === quote) quote = undefined;
      else if (ch === '\\' && quote === '"' && i + 1 < text.length) cur += text[++i];
      else cur += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      any = true;
    } else if (ch === '\\' && i + 1 < text.length) cur += text[++i];
    else if (ch === '>' || ch === '<') {
      if (/^\d+$/.test(cur) && !any) cur = '';
      break;
    } else if (/\s/.test(ch)) {
      if (cur || any) out.push(cur);
      cur = '';
      any = false;
    } else cur += ch;
  }
  if (cur || any) out.push(cur);
  return out;
}

/** The kfn invocations in shell text: each command of a line (split at && || ; |), after sudo/exec/env. */
function kfnInShell(text: string): string[][] {
  return text
    .replace(/\\\n/g, ' ')
    .split(/\n|&&|\|\||;|\|/)
    .map((part) => words(part.trim()))
    .flatMap((w) => {
      while (w.length && (['sudo', 'exec', 'env', 'command'].includes(w[0]!) || /^[A-Z_][A-Z0-9_]*=/.test(w[0]!))) w.shift();
      return w.length && path.basename(w[0]!) === 'kfn' ? [w.slice(1)] : [];
    });
}

interface Invocation {
  file: string;
  args: string[];
}

function invocations(): Invocation[] {
  const out: Invocation[] = [];
  for (const file of files) {
    const text = fs.readFileSync(file, 'utf8');
    const add = (args: string[][]) => out.push(...args.map((a) => ({ file, args: a })));
    if (/\.(service|timer|socket|path)$/.test(file)) {
      const env: Record<string, string> = {};
      for (const m of text.matchAll(/^Environment=(\w+)=(.*)$/gm)) env[m[1]!] = m[2]!;
      const expand = (s: string) => s.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a: string, b: string) => env[a ?? b] ?? `${a ?? b}`);
      for (const m of text.matchAll(/^Exec\w*=[-@+!:]*(.*)$/gm)) add(kfnInShell(expand(m[1]!)));
    } else if (path.basename(file) === 'Dockerfile') {
      for (const m of text.replace(/\\\n/g, ' ').matchAll(/^RUN (.*)$/gm)) add(kfnInShell(m[1]!));
    } else if (k8sFiles.includes(file)) {
      for (const d of k8sDocs.filter((x) => x.file === file)) {
        for (const c of (d.doc.spec?.template?.spec?.containers ?? []) as { command?: string[]; args?: string[]; env?: { name: string }[] }[]) {
          if (c.command && path.basename(c.command[0]!) === 'kfn') add([[...c.command.slice(1), ...(c.args ?? [])].map((a) => a.replace(/\$\((\w+)\)/g, 'value-of-$1'))]);
        }
      }
    } else if (/\.ya?ml$/.test(file)) {
      // A CI workflow: the `run:` scripts of its steps.
      const walk = (v: unknown): void => {
        if (Array.isArray(v)) v.forEach(walk);
        else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) k === 'run' && typeof x === 'string' ? add(kfnInShell(x)) : walk(x);
      };
      for (const d of parseAllDocuments(text)) walk(d.toJS());
    }
  }
  return out;
}

describe('examples/deploy: every kfn command line parses with the real CLI', () => {
  const all = invocations();

  test('command lines are found in units, the workflow, the DaemonSet and the Dockerfile', () => {
    const by = (re: RegExp) => all.filter((i) => re.test(i.file)).length;
    assert.ok(by(/\.service$/) > 0 && by(/kfn\.yaml$/) > 0 && by(/Dockerfile$/) > 0 && by(/\.ya?ml$/) > by(/kfn\.yaml$/), JSON.stringify(all.map((i) => [rel(i.file), i.args.join(' ')])));
  });

  for (const inv of all) {
    test(`${rel(inv.file)}: kfn ${inv.args.join(' ')}`, async () => {
      const r = await parseCommandLine(inv.args);
      assert.ok(r.ok, r.ok ? '' : r.error);
    });
  }

  test('the reconcile agent, drift and status are what the examples run', () => {
    const names = new Set(all.map((i) => i.args.find((a, n) => !a.startsWith('-') && !['--log-format', '--log-level'].includes(i.args[n - 1] ?? ''))));
    for (const c of ['reconcile', 'drift', 'status', 'plan', 'apply']) assert.ok(names.has(c), `an example runs kfn ${c}`);
    const units = fs.readdirSync(DEPLOY).sort();
    for (const f of ['kfn-reconcile.service', 'kfn-drift.service', 'kfn-drift.timer']) assert.ok(units.includes(f), `${f} in examples/deploy`);
    assert.ok(!units.includes('kfn-apply.timer') && !units.includes('kfn-apply.service'), 'the bare git-pull-and-apply timer is gone');
  });
});
