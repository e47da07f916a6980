#!/usr/bin/env node
// handoff/tla/run_tlc.mjs — run one TLA+ model through tla-checker and compare the
// result with what the manifest expects.
//
//   node tla/run_tlc.mjs <Spec.tla> <Model.cfg> --expect ok|invariant|deadlock|liveness
//        [--states N] [--name NAME] [--allow-deadlock] [--max-states M] [--depth D]
//        [--find-depth] [--full-trace] [--checker DIR]
//
// Exit 0 only if the verdict is exactly the expected one and
//   ok:         the distinct-state count equals --states N (N > 0, required);
//   invariant:  the violated invariant is --name NAME (required), confirmed by a second
//               run that checks NAME alone (none if the cfg checks NAME alone already);
//               the trace is printed;
//   liveness:   the violated property is --name NAME (required), confirmed by a run that
//               checks NAME alone; the trace (prefix, then the cycle) is printed;
//   deadlock:   a deadlock was found; the trace is printed.
// --states N with an expected violation also pins the count of states explored until
// the violation was found. --depth D makes a depth greater than D an error (the
// checker's API reports no depth, so this is a checked bound); --find-depth measures
// the exact depth by bisection over max_depth (several runs: for the manifest only).
//
// Exit 1: the model ran but the result differs from the expectation.
// Exit 2: the model could not be checked (usage, parse or config error, an EXTENDS or
//         construct that tla-checker would silently drop, the state limit, ...).
//
// The checker is the npm package pinned in tla/checker (npm ci --prefix tla/checker);
// --checker DIR or HANDOFF_TLA_CHECKER points elsewhere.

import { readFileSync, existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';

const HERE = dirname(fileURLToPath(import.meta.url));
const EXPECTS = ['ok', 'invariant', 'deadlock', 'liveness'];
// Modules tla-checker 0.9.0 implements itself; EXTENDS of anything else is dropped silently.
const STANDARD_MODULES = new Set(['Naturals', 'Integers', 'Sequences', 'FiniteSets', 'TLC', 'Bags', 'Bits']);
const DEFAULT_MAX_STATES = 3_000_000;
const DEFAULT_MAX_DEPTH = 1_000_000;

class Usage extends Error {}
class Unchecked extends Error {}

function usage(msg) {
  throw new Usage(`${msg}\nusage: node run_tlc.mjs <Spec.tla> <Model.cfg> --expect ok|invariant|deadlock|liveness ` +
    '[--states N] [--name NAME] [--allow-deadlock] [--max-states M] [--depth D] [--find-depth] ' +
    '[--full-trace] [--checker DIR]');
}

function parseArgs(argv) {
  const o = { positional: [], allowDeadlock: false, findDepth: false, fullTrace: false };
  const needsValue = new Set(['--expect', '--states', '--name', '--max-states', '--depth', '--checker']);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (needsValue.has(a)) {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      o[a.slice(2).replace(/-(.)/g, (_, c) => c.toUpperCase())] = argv[++i];
    } else if (a === '--allow-deadlock') o.allowDeadlock = true;
    else if (a === '--find-depth') o.findDepth = true;
    else if (a === '--full-trace') o.fullTrace = true;
    else if (a.startsWith('--')) usage(`unknown option ${a}`);
    else o.positional.push(a);
  }
  if (o.positional.length !== 2) usage('expected exactly two files: the spec and the cfg');
  if (!EXPECTS.includes(o.expect)) usage(`--expect must be one of ${EXPECTS.join(', ')}`);
  const count = (name, v) => {
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(v)) usage(`${name} must be a non-negative integer, got '${v}'`);
    return Number(v);
  };
  o.states = count('--states', o.states);
  o.maxStates = count('--max-states', o.maxStates) ?? DEFAULT_MAX_STATES;
  o.depth = count('--depth', o.depth);
  if (o.expect === 'ok' && (o.states === undefined || o.states === 0)) {
    usage('--expect ok needs --states N with the exact, non-zero distinct-state count');
  }
  if ((o.expect === 'invariant' || o.expect === 'liveness') && !o.name) {
    usage(`--expect ${o.expect} needs --name with the invariant or property that must fail`);
  }
  if (o.expect === 'deadlock' && o.allowDeadlock) usage('--expect deadlock contradicts --allow-deadlock');
  if (o.findDepth && o.expect !== 'ok') usage('--find-depth only makes sense with --expect ok');
  return o;
}

// ---------------------------------------------------------------------------------------
// Reading the spec and the cfg: refuse what tla-checker would drop without a word.

function stripTlaComments(src) {
  // (* ... *) blocks (not nested: tla-checker rejects nesting anyway), then \* line comments.
  return src.replace(/\(\*[\s\S]*?\*\)/g, ' ').replace(/\\\*.*$/gm, '');
}

function lintSpec(specPath, src) {
  const problems = [];
  const m = /^-{4,}\s*MODULE\s+(\w+)\s*-{4,}/m.exec(src);
  const file = basename(specPath, '.tla');
  if (!m) problems.push('no "---- MODULE Name ----" header');
  else if (m[1] !== file) problems.push(`module is named ${m[1]} but the file is ${file}.tla (TLC requires them to match)`);
  const code = stripTlaComments(src);
  const modules = (code.match(/-{4,}\s*MODULE\s+\w+/g) || []).length;
  if (modules > 1) problems.push('more than one MODULE in the file: keep one module per file');
  for (const ext of code.matchAll(/\bEXTENDS\s+(\w+(?:\s*,\s*\w+)*)/g)) {
    for (const name of ext[1].split(/[\s,]+/).filter(Boolean)) {
      if (!STANDARD_MODULES.has(name)) {
        const local = existsSync(join(dirname(specPath), `${name}.tla`));
        problems.push(`EXTENDS ${name}: tla-checker's WASM API checks a single module and ignores ` +
          `EXTENDS of a user module silently${local ? ` (${name}.tla is next to the spec)` : ''}; ` +
          'keep each spec in one module and put the bounds in the .cfg (see tla/README.md)');
      }
    }
  }
  if (/\bINSTANCE\b/.test(code)) problems.push('INSTANCE: the WASM checker cannot load other modules; keep one module');
  const dropped = [
    [/\]_<</, 'a tuple subscript like [][Next]_<<x, y>>: define vars == <<x, y>> and write _vars'],
    [/\b[WS]F_<</, 'WF_<<...>> / SF_<<...>>: define vars == <<...>> and write WF_vars'],
    [/^\s*\w+\s*\[[^\]]*\\in[^\]]*\]\s*==/m, 'a function definition f[x \\in S] == ...: write f == [x \\in S |-> ...]'],
    [/\[\s*\w+\s*\\in[^\]|]*,\s*\w+\s*\\in[^\]|]*\|->/, '[x \\in S, y \\in T |-> e]: nest [x \\in S |-> [y \\in T |-> e]]'],
    [/\)\s*'/, "a primed parenthesized expression (e)': prime the variables instead"],
    [/\\[EA]\s+\w+(\s*,\s*\w+)*\s*:/, 'an unbounded quantifier \\E x : P or \\A x : P: bound it with \\in S'],
    [/\b\w+\[[^\[\]|]*,[^\[\]|]*\]/, 'g[a, b] (several arguments in one subscript): write g[<<a, b>>] or g[a][b]'],
  ];
  for (const [re, what] of dropped) if (re.test(code)) problems.push(`tla-checker drops this silently: ${what}`);
  if (/[≜‥]/.test(code)) problems.push('Unicode ≜ or ‥ does not parse: write == and ..');
  return problems;
}

const CFG_KEYWORDS = new Set(['CONSTANT', 'CONSTANTS', 'INIT', 'NEXT', 'SPECIFICATION', 'INVARIANT', 'INVARIANTS',
  'PROPERTY', 'PROPERTIES', 'CONSTRAINT', 'CONSTRAINTS', 'SYMMETRY', 'CHECK_DEADLOCK', 'VIEW',
  'ACTION_CONSTRAINT', 'ACTION_CONSTRAINTS', 'ALIAS', 'POSTCONDITION']);

function parseCfg(src) {
  const cfg = { invariants: [], properties: [], problems: [], checkDeadlock: true, hasSpec: false };
  let section = null;
  const text = stripTlaComments(src);
  for (const rawLine of text.split('\n')) {
    const line = rawLine.trim();
    if (!line) continue;
    const first = line.split(/\s+/)[0];
    let rest = line;
    if (CFG_KEYWORDS.has(first)) {
      section = first.replace(/S$/, '').replace(/IE$/, 'Y');  // INVARIANTS->INVARIANT, PROPERTIES->PROPERTY
      rest = line.slice(first.length).trim();
      if (section === 'VIEW' || section === 'ACTION_CONSTRAINT' || section === 'ALIAS' || section === 'POSTCONDITION') {
        cfg.problems.push(`${first} in the cfg: tla-checker rejects or ignores it`);
      }
      if (section === 'SPECIFICATION' || section === 'INIT') cfg.hasSpec = true;
      if (section === 'SPECIFICATION' && rest) cfg.specification = rest.split(/\s+/)[0];
      if (section === 'CHECK_DEADLOCK' && /^FALSE\b/.test(rest)) cfg.checkDeadlock = false;
    }
    if (section === 'CONSTANT' && rest.includes('<-')) {
      cfg.problems.push(`'${rest}': substitution with <- is rejected by tla-checker; give a value with =`);
    }
    if (section === 'INVARIANT' || section === 'PROPERTY') {
      for (const name of rest.split(/\s+/).filter(Boolean)) {
        if (!/^\w+$/.test(name)) cfg.problems.push(`cannot read '${name}' as a ${section} name`);
        else (section === 'INVARIANT' ? cfg.invariants : cfg.properties).push(name);
      }
    }
  }
  if (!cfg.hasSpec) cfg.problems.push('the cfg has neither SPECIFICATION nor INIT/NEXT');
  return cfg;
}

function definedNames(specSrc) {
  const names = new Set();
  for (const m of stripTlaComments(specSrc).matchAll(/^\s*(\w+)\s*(?:\([^)]*\))?\s*==/gm)) names.add(m[1]);
  return names;
}

// The text of a top-level definition: from "Name ==" to the next definition at column 0.
function definitionBody(specSrc, name) {
  const code = stripTlaComments(specSrc);
  const start = new RegExp(`^${name}\\s*(?:\\([^)]*\\))?\\s*==`, 'm').exec(code);
  if (!start) return '';
  const rest = code.slice(start.index + start[0].length);
  const end = /^(?:\w+\s*(?:\([^)]*\))?\s*==|-{4,}|={4,})/m.exec(rest);
  return end ? rest.slice(0, end.index) : rest;
}

// tla-checker 0.9.0 behaviours that give a wrong answer without an error (measured; see README).
function lintSemantics(specSrc, cfg, defs) {
  const problems = [];
  if (cfg.specification && cfg.specification !== 'Spec' && defs.has('Spec') && cfg.properties.length) {
    problems.push(`SPECIFICATION ${cfg.specification} while the module also defines Spec: tla-checker 0.9.0 ` +
      'takes the fairness for PROPERTY checks from the definition named Spec, not from SPECIFICATION; ' +
      'name the checked specification Spec');
  }
  for (const p of cfg.properties) {
    if (definitionBody(specSrc, p).includes('~>')) {
      problems.push(`PROPERTY ${p} uses ~>: under fairness tla-checker 0.9.0 misses leads-to violations whose ` +
        'cycle has no P-state (it passed a false (a = 1) ~> (a = 7)); state it as <>Q over a stable Q, ' +
        'or as an INVARIANT');
    }
  }
  return problems;
}

// A cfg with the same constants and specification but only the given checks.
function cfgWithOnly(src, { invariants = [], properties = [] }) {
  const keep = [];
  let section = null;
  for (const rawLine of stripTlaComments(src).split('\n')) {
    const first = rawLine.trim().split(/\s+/)[0];
    if (CFG_KEYWORDS.has(first)) section = first.replace(/S$/, '').replace(/IE$/, 'Y');
    if (section === 'INVARIANT' || section === 'PROPERTY') continue;
    keep.push(rawLine);
  }
  for (const i of invariants) keep.push(`INVARIANT ${i}`);
  for (const p of properties) keep.push(`PROPERTY ${p}`);
  return keep.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------
// Running the checker.

async function loadChecker(dir) {
  const pkg = join(dir, 'node_modules', 'tla-checker');
  const js = join(pkg, 'tla_checker.js');
  const wasm = join(pkg, 'tla_checker_bg.wasm');
  if (!existsSync(js) || !existsSync(wasm)) {
    throw new Unchecked(`tla-checker is not installed in ${dir}: run  npm ci --prefix ${dir}`);
  }
  const version = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')).version;
  const mod = await import(pathToFileURL(js).href);
  mod.initSync({ module: readFileSync(wasm) });
  return { check: mod.check_spec_with_cfg, version };
}

function runOnce(checker, spec, cfg, maxStates, maxDepth, allowDeadlock) {
  const t0 = performance.now();
  const raw = checker.check(spec, cfg, '{}', maxStates, maxDepth, allowDeadlock, false);
  const seconds = (performance.now() - t0) / 1000;
  let r;
  try {
    r = JSON.parse(raw);
  } catch {
    throw new Unchecked(`tla-checker returned something that is not JSON: ${String(raw).slice(0, 300)}`);
  }
  r.seconds = seconds;
  return r;
}

function verdictOf(r) {
  if (r.success) return 'ok';
  switch (r.error_type) {
    case 'InvariantViolation': return 'invariant';
    case 'Deadlock': return 'deadlock';
    case 'LivenessViolation': return 'liveness';
    default: return null;  // parse, config, evaluation error, limits: not a verdict
  }
}

// ---------------------------------------------------------------------------------------
// Printing a trace: the first state in full, then per step only what changed.

function parseStates(block) {
  const states = [];
  let cur = null;
  let lastVar = null;
  for (const line of block.split('\n')) {
    const head = /^State\s+(\d+)/.exec(line);
    if (head) { cur = { n: Number(head[1]), vars: new Map() }; states.push(cur); lastVar = null; continue; }
    if (!cur || !line.trim()) continue;
    const kv = /^\s{2}(\w+) = (.*)$/.exec(line);
    if (kv) { cur.vars.set(kv[1], kv[2]); lastVar = kv[1]; } else if (lastVar) {
      cur.vars.set(lastVar, `${cur.vars.get(lastVar)}\n${line}`);
    }
  }
  return states;
}

function printTrace(trace, fullTrace) {
  if (!Array.isArray(trace) || trace.length === 0) { console.log('  (the checker gave no trace)'); return; }
  const parts = trace.map(parseStates);
  let prev = null;
  parts.forEach((states, pi) => {
    if (parts.length > 1) {
      console.log(pi === 0 ? '  -- prefix --' : '  -- cycle (repeats forever) --');
    }
    for (const s of states) {
      const changed = [];
      for (const [k, v] of s.vars) if (fullTrace || !prev || prev.vars.get(k) !== v) changed.push([k, v]);
      const label = prev && !fullTrace ? `State ${s.n} (changed: ${changed.map(([k]) => k).join(', ') || 'nothing'})` : `State ${s.n}`;
      console.log(`  ${label}`);
      for (const [k, v] of changed) console.log(`    ${k} = ${v.replace(/\n/g, '\n      ')}`);
      prev = s;
    }
  });
}

// ---------------------------------------------------------------------------------------

async function findDepth(checker, spec, cfg, o, allowDeadlock) {
  // Smallest max_depth that does not fail with MaxDepthExceeded (= TLC's "depth").
  const exceeds = (d) => {
    const r = runOnce(checker, spec, cfg, o.maxStates, d, allowDeadlock);
    if (r.error_type === 'MaxDepthExceeded') return true;
    if (!r.success) throw new Unchecked(`depth search at ${d}: ${r.error_type}: ${r.error_message}`);
    return false;
  };
  let hi = 16;
  while (exceeds(hi)) { hi *= 2; if (hi > DEFAULT_MAX_DEPTH) throw new Unchecked('depth search: no bound found'); }
  let lo = 0;  // exceeds(lo) is true for lo = 0 (there is at least the initial state)
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (exceeds(mid)) lo = mid; else hi = mid;
  }
  return hi;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const [specPath, cfgPath] = o.positional.map((p) => resolve(p));
  for (const p of [specPath, cfgPath]) if (!existsSync(p)) throw new Unchecked(`no such file: ${p}`);
  const spec = readFileSync(specPath, 'utf8');
  const cfgSrc = readFileSync(cfgPath, 'utf8');
  const title = `${basename(specPath)} with ${basename(cfgPath)}`;

  const problems = lintSpec(specPath, spec);
  const cfg = parseCfg(cfgSrc);
  problems.push(...cfg.problems);
  const defs = definedNames(spec);
  problems.push(...lintSemantics(spec, cfg, defs));
  for (const n of [...cfg.invariants, ...cfg.properties]) if (!defs.has(n)) problems.push(`definition '${n}' not found in ${basename(specPath)}`);
  if (o.expect === 'invariant' && !cfg.invariants.includes(o.name)) problems.push(`--name ${o.name} is not an INVARIANT of ${basename(cfgPath)}`);
  if (o.expect === 'liveness' && !cfg.properties.includes(o.name)) problems.push(`--name ${o.name} is not a PROPERTY of ${basename(cfgPath)}`);
  if (cfg.invariants.length === 0) {
    const auto = [...defs].filter((n) => n === 'TypeOK' || n.startsWith('Inv') || n.startsWith('NotSolved'));
    if (auto.length) console.log(`note: the cfg lists no INVARIANT; tla-checker checks ${auto.join(', ')} anyway`);
  }
  if (problems.length) throw new Unchecked(`${title} cannot be checked as written:\n  - ${problems.join('\n  - ')}`);

  const allowDeadlock = o.allowDeadlock || !cfg.checkDeadlock;
  const checkerDir = resolve(o.checker ?? process.env.HANDOFF_TLA_CHECKER ?? join(HERE, 'checker'));
  const checker = await loadChecker(checkerDir);
  const maxDepth = o.depth ?? DEFAULT_MAX_DEPTH;

  console.log(`tla-checker ${checker.version}: ${title}`);
  console.log(`  expect ${o.expect}${o.name ? ` (${o.name})` : ''}${o.states !== undefined ? `, ${o.states} states` : ''}` +
    `${allowDeadlock ? ', deadlock allowed' : ''}; invariants: ${cfg.invariants.join(' ') || '-'}; properties: ${cfg.properties.join(' ') || '-'}`);

  const r = runOnce(checker, spec, cfgSrc, o.maxStates, maxDepth, allowDeadlock);
  const verdict = verdictOf(r);
  if (verdict === null) {
    let why = `${r.error_type}: ${r.error_message}`;
    if (r.error_type === 'MaxStatesExceeded') why += ` (raise --max-states, now ${o.maxStates}, or shrink the model)`;
    if (r.error_type === 'MaxDepthExceeded') why += o.depth !== undefined ? ` (the depth is more than --depth ${o.depth})` : '';
    throw new Unchecked(`${title}: not checked: ${why}`);
  }
  for (const w of r.warnings || []) console.log(`  warning: ${typeof w === 'string' ? w : JSON.stringify(w)}`);

  let violated = null;
  if (verdict === 'invariant') {
    const m = /Invariant (\d+) violated/.exec(r.error_message || '');
    violated = m ? cfg.invariants[Number(m[1])] ?? `#${m[1]}` : '?';
  }

  const depthText = o.depth !== undefined ? `depth <= ${o.depth} (checked)` : 'depth not reported by tla-checker (use --depth D or --find-depth)';
  console.log(`  verdict: ${verdict}${violated ? ` (${violated})` : ''}${verdict === 'liveness' ? ` (${r.error_message})` : ''}`);
  console.log(`  ${verdict === 'ok' ? 'distinct states' : 'states explored before the violation'}: ${r.states_explored}`);
  console.log(`  ${verdict === 'ok' ? depthText : `trace length: ${(r.trace || []).map((b) => parseStates(b).length).join(' + ')}`}`);
  console.log(`  time: ${r.seconds.toFixed(2)} s (${(r.states_explored / Math.max(r.seconds, 1e-3)).toFixed(0)} states/s)`);
  if (verdict !== 'ok') { console.log('  trace:'); printTrace(r.trace, o.fullTrace); }

  const failures = [];
  if (verdict !== o.expect) failures.push(`verdict is ${verdict}, expected ${o.expect}${verdict !== 'ok' ? `: ${r.error_message}` : ''}`);
  if (!(r.states_explored > 0)) failures.push('zero states: the spec was not explored (a definition dropped silently?)');
  if (o.states !== undefined && r.states_explored !== o.states) {
    failures.push(`${r.states_explored} states, expected exactly ${o.states} (the model changed: re-measure and update the manifest)`);
  }

  // Confirm the name of the violated check with a run that checks it alone.
  if (failures.length === 0 && (o.expect === 'invariant' || o.expect === 'liveness')) {
    if (o.expect === 'invariant' && violated !== o.name) {
      failures.push(`violated invariant is ${violated}, expected ${o.name}`);
    } else if (o.expect === 'invariant' && cfg.invariants.length === 1 && cfg.properties.length === 0) {
      // The cfg checks NAME alone already: a second run would repeat the first one.
      console.log(`  confirm: ${o.name} is the cfg's only check (no second run)`);
    } else {
      const only = o.expect === 'invariant' ? { invariants: [o.name] } : { properties: [o.name] };
      const r2 = runOnce(checker, spec, cfgWithOnly(cfgSrc, only), o.maxStates, maxDepth, allowDeadlock);
      const v2 = verdictOf(r2);
      console.log(`  confirm: ${o.name} checked alone -> ${v2 ?? r2.error_type} (${r2.states_explored} states, ${r2.seconds.toFixed(2)} s)`);
      if (v2 !== o.expect) failures.push(`${o.name} checked alone gives ${v2 ?? `${r2.error_type}: ${r2.error_message}`}, not a ${o.expect} violation`);
    }
  }

  if (failures.length === 0 && o.findDepth) {
    const d = await findDepth(checker, spec, cfgSrc, o, allowDeadlock);
    console.log(`  depth (exact, by bisection over max_depth): ${d}`);
  }

  if (failures.length) {
    console.log(`FAIL ${title}:\n  - ${failures.join('\n  - ')}`);
    return 1;
  }
  console.log(`PASS ${title}: ${verdict}${violated ? ` (${violated})` : ''}${verdict === 'liveness' ? ` (${o.name})` : ''}, ` +
    `${r.states_explored} states, ${r.seconds.toFixed(2)} s`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    if (e instanceof Usage || e instanceof Unchecked) console.error(`run_tlc: ${e.message}`);
    else console.error(`run_tlc: internal error: ${e?.stack ?? e}`);
    process.exit(2);
  },
);
