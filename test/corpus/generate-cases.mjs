// Writes test/corpus/cases/* and test/corpus/cases.json (run: rm -rf test/corpus/cases && node test/corpus/generate-cases.mjs).
// Inputs that must not be committed (symlinks, >4 MiB manifest, broken objects, huge maps) are
// generated at test time by test/unit/corpus.test.ts (see each case's "setup").
import fs from 'node:fs'; import path from 'node:path'; import { fileURLToPath } from 'node:url';
const HERE=path.dirname(fileURLToPath(import.meta.url));
const ROOT=path.join(HERE,'cases');
const O='../../../../bpf/build';
const fn=(name,obj,{version='1.0.0',program=name,hooks='[xdp, tc-ingress, tc-egress]',extra=''}={})=>`apiVersion: kfn.dev/v1alpha1
kind: KernelFunction
metadata: { name: ${name} }
spec:
  version: ${version}
  object: ${obj}
  program: ${program}
  hooks: ${hooks}
${extra}`;
const FUNCS=[fn('blocklist',`${O}/blocklist.bpf.o`),fn('counter',`${O}/counter.bpf.o`),fn('ratelimit',`${O}/ratelimit.bpf.o`)].join('---\n');
const chain=({name='edge',hook='xdp',ifs='[eth0]',extra='',fns='    - function: counter\n'}={})=>`apiVersion: kfn.dev/v1alpha1
kind: Chain
metadata: { name: ${name} }
spec:
  hook: ${hook}
  interfaces: ${ifs}
${extra}  functions:
${fns}`;
const cases=[];
function add(name, files, meta){ const dir=path.join(ROOT,name); fs.mkdirSync(dir,{recursive:true}); for(const [f,c] of Object.entries(files)) fs.writeFileSync(path.join(dir,f),c); cases.push({name, path:`test/corpus/cases/${name}`, command:'validate', exitCode:1, ...meta}); }
let n=0; const id=(s)=>`${String(++n).padStart(2,'0')}-${s}`;
const withF=(c)=>({'functions.yaml':FUNCS,'chain.yaml':c});
// Value-typing cases use state maps of the shipped objects as typed vehicles: declared parameters here.
const FUNCS_P=[fn('blocklist',`${O}/blocklist.bpf.o`),fn('counter',`${O}/counter.bpf.o`,{extra:'  parameters: [counts]\n'}),fn('ratelimit',`${O}/ratelimit.bpf.o`,{extra:'  parameters: [bucket]\n'})].join('---\n');
const withP=(c)=>({'functions.yaml':FUNCS_P,'chain.yaml':c});
// YAML syntax
add(id('yaml-unclosed-flow'),{'chain.yaml':chain({ifs:'[eth0, eth1'})},{code:'MANIFEST_YAML',fragment:'chain.yaml:'});
add(id('yaml-bad-indent'),{'chain.yaml':'apiVersion: kfn.dev/v1alpha1\nkind: Chain\nmetadata:\n  name: edge\n   extra: x\nspec: {}\n'},{code:'MANIFEST_YAML',fragment:'chain.yaml:4'});
add(id('yaml-tab-indent'),{'chain.yaml':'apiVersion: kfn.dev/v1alpha1\nkind: Chain\nmetadata:\n\tname: edge\n'},{code:'MANIFEST_YAML',fragment:'chain.yaml:4'});
add(id('yaml-unclosed-quote'),{'chain.yaml':'apiVersion: kfn.dev/v1alpha1\nkind: Chain\nmetadata: { name: "edge }\nspec:\n  hook: xdp\n'},{code:'MANIFEST_YAML',fragment:'chain.yaml:'});
add(id('yaml-undefined-alias'),{'chain.yaml':chain({ifs:'*ifaces'})},{code:'MANIFEST_YAML',fragment:'chain.yaml:6:15: unresolved alias *ifaces'});
add(id('yaml-duplicate-key-top'),withF(chain().replace('kind: Chain\n','kind: Chain\nkind: Chain\n')),{code:'MANIFEST_YAML',fragment:'chain.yaml:3'});
add(id('yaml-duplicate-key-nested'),withF(chain({extra:'  mode: generic\n  mode: native\n'})),{code:'MANIFEST_YAML',fragment:'chain.yaml:8'});
add(id('yaml-duplicate-map-key'),withF(chain({fns:'    - function: blocklist\n      maps:\n        blocked_v4:\n          "10.0.0.0/8": 1\n          "10.0.0.0/8": 2\n'})),{code:'MANIFEST_YAML',fragment:'chain.yaml:12'});
add(id('yaml-not-mapping'),{'chain.yaml':'- just\n- a list\n'},{code:'MANIFEST_SCHEMA',fragment:'chain.yaml'});
add(id('yaml-scalar-doc'),{'chain.yaml':'hello\n'},{code:'MANIFEST_SCHEMA',fragment:'chain.yaml'});
// types
add(id('type-interfaces-string'),withF(chain({ifs:'eth0'})),{code:'MANIFEST_SCHEMA',fragment:'chain.yaml:6'});
add(id('type-hook-number'),withF(chain({hook:'42'})),{code:'MANIFEST_SCHEMA',fragment:'chain.yaml:5'});
add(id('type-functions-mapping'),withF(chain({fns:'    function: counter\n'})),{code:'MANIFEST_SCHEMA',fragment:'chain.yaml:'});
add(id('type-version-number'),{'functions.yaml':fn('counter',`${O}/counter.bpf.o`,{version:'1.0'})},{code:'MANIFEST_SCHEMA',fragment:'functions.yaml:5'});
add(id('type-hooks-not-list'),{'functions.yaml':fn('counter',`${O}/counter.bpf.o`,{hooks:'xdp'})},{code:'MANIFEST_SCHEMA',fragment:'functions.yaml:8'});
add(id('type-maps-list'),withF(chain({fns:'    - function: counter\n      maps: [counts]\n'})),{code:'MANIFEST_SCHEMA',fragment:'chain.yaml:9'});
// unknown fields
add(id('unknown-field-top'),withF(chain()+'status: {}\n'),{code:'MANIFEST_SCHEMA',fragment:'chain.yaml:9'});
add(id('unknown-field-metadata'),withF(chain().replace('metadata: { name: edge }','metadata: { name: edge, labels: {} }')),{code:'MANIFEST_SCHEMA',fragment:'chain.yaml:3'});
add(id('unknown-field-spec'),withF(chain({extra:'  priority: 5\n'})),{code:'MANIFEST_SCHEMA',fragment:'chain.yaml:7'});
add(id('unknown-field-instance'),withF(chain({fns:'    - function: counter\n      enabled: true\n'})),{code:'MANIFEST_SCHEMA',fragment:'chain.yaml:9'});
add(id('unknown-field-kf-spec'),{'functions.yaml':fn('counter',`${O}/counter.bpf.o`,{extra:'  objekt: x.o\n'})},{code:'MANIFEST_SCHEMA',fragment:'functions.yaml:9'});
// kinds / apiVersion / required
add(id('unknown-kind'),{'chain.yaml':chain().replace('kind: Chain','kind: Pipeline')},{code:'MANIFEST_KIND',fragment:'chain.yaml:2'});
add(id('missing-kind'),{'chain.yaml':chain().replace('kind: Chain\n','')},{code:'MANIFEST_KIND',fragment:'chain.yaml'});
add(id('wrong-api-version'),withF(chain().replace('kfn.dev/v1alpha1','kfn.dev/v2')),{code:'MANIFEST_API_VERSION',fragment:'chain.yaml:1'});
add(id('missing-api-version'),withF(chain().replace('apiVersion: kfn.dev/v1alpha1\n','')),{code:'MANIFEST_API_VERSION',fragment:'chain.yaml'});
add(id('missing-metadata-name'),withF(chain().replace('metadata: { name: edge }','metadata: {}')),{code:'MANIFEST_SCHEMA',fragment:'chain.yaml:3'});
add(id('missing-hook'),withF(chain().replace('  hook: xdp\n','')),{code:'MANIFEST_SCHEMA',fragment:'chain.yaml:'});
add(id('missing-instance-function'),withF(chain({fns:'    - name: x\n'})),{code:'MANIFEST_SCHEMA',fragment:'chain.yaml:8'});
add(id('missing-kf-object'),{'functions.yaml':fn('counter',`${O}/counter.bpf.o`).replace(/  object: .*\n/,'')},{code:'MANIFEST_SCHEMA',fragment:'functions.yaml:'});
add(id('empty-functions-list'),withF(chain({fns:'    []\n'}).replace('functions:\n    []','functions: []')),{code:'MANIFEST_SCHEMA',fragment:'chain.yaml:7'});
add(id('bad-chain-name'),withF(chain({name:'Edge_'})),{code:'MANIFEST_SCHEMA',fragment:'chain.yaml:3'});
// duplicates
add(id('duplicate-function'),{'functions.yaml':FUNCS+'---\n'+fn('counter',`${O}/counter.bpf.o`)},{code:'MANIFEST_DUPLICATE',fragment:'functions.yaml:'});
add(id('duplicate-chain'),{'functions.yaml':FUNCS,'a.yaml':chain(),'b.yaml':chain({ifs:'[eth1]'})},{code:'MANIFEST_DUPLICATE',fragment:'.yaml:3'});
add(id('duplicate-instance'),withF(chain({fns:'    - function: counter\n    - function: counter\n'})),{code:'MANIFEST_DUPLICATE',fragment:'chain.yaml:9'});
add(id('duplicate-interface'),withF(chain({ifs:'[eth0, eth0]'})),{code:'MANIFEST_SCHEMA',fragment:'chain.yaml:6'});
// references
add(id('function-not-found'),withF(chain({fns:'    - function: nosuch\n'})),{code:'FUNCTION_NOT_FOUND',fragment:'chain.yaml:8'});
add(id('function-version-not-found'),withF(chain({fns:'    - function: counter@9.9.9\n'})),{code:'FUNCTION_VERSION_NOT_FOUND',fragment:'chain.yaml:8'});
add(id('function-ambiguous'),{'functions.yaml':FUNCS+'---\n'+fn('counter',`${O}/counter.bpf.o`,{version:'2.0.0'}),'chain.yaml':chain()},{code:'FUNCTION_AMBIGUOUS',fragment:'chain.yaml:8'});
add(id('function-ref-bad-syntax'),withF(chain({fns:'    - function: counter@v1\n'})),{code:'MANIFEST_SCHEMA',fragment:'chain.yaml:8'});
// objects
add(id('object-dotdot-escape'),{'functions.yaml':fn('counter','../../../../../../../../etc/passwd'),'chain.yaml':chain()},{code:'OBJECT_OUTSIDE_ROOT',fragment:'functions.yaml:6'});
add(id('object-absolute'),{'functions.yaml':fn('counter','/etc/passwd'),'chain.yaml':chain()},{code:'OBJECT_OUTSIDE_ROOT',fragment:'functions.yaml:6'});
add(id('object-symlink-escape'),{'functions.yaml':fn('counter','escape.bpf.o'),'chain.yaml':chain()},{code:'OBJECT_OUTSIDE_ROOT',fragment:'functions.yaml:6',setup:'symlink-escape'});
add(id('object-missing'),{'functions.yaml':fn('counter','nosuch.bpf.o'),'chain.yaml':chain()},{code:'OBJECT_NOT_FOUND',fragment:'functions.yaml:6'});
add(id('object-truncated'),{'functions.yaml':fn('counter','gen/truncated.bpf.o'),'chain.yaml':chain()},{code:'OBJECT_INVALID',fragment:'functions.yaml:6',setup:'truncated-object'});
add(id('object-not-elf'),{'functions.yaml':fn('counter','gen/notelf.bpf.o'),'chain.yaml':chain()},{code:'OBJECT_INVALID',fragment:'functions.yaml:6',setup:'non-elf-object'});
add(id('object-is-directory'),{'functions.yaml':fn('counter','.'),'chain.yaml':chain()},{code:'OBJECT_NOT_FOUND',fragment:'functions.yaml:6'});
add(id('sha256-mismatch'),{'functions.yaml':fn('counter',`${O}/counter.bpf.o`,{extra:'  sha256: '+'ab'.repeat(32)+'\n'}),'chain.yaml':chain()},{code:'OBJECT_SHA256_MISMATCH',fragment:'functions.yaml:9'});
add(id('sha256-unquoted-digits'),{'functions.yaml':fn('counter',`${O}/counter.bpf.o`,{extra:'  sha256: '+'0'.repeat(64)+'\n'}),'chain.yaml':chain()},{code:'MANIFEST_SCHEMA',fragment:'functions.yaml:9'});
add(id('sha256-bad-format'),{'functions.yaml':fn('counter',`${O}/counter.bpf.o`,{extra:'  sha256: abc123\n'}),'chain.yaml':chain()},{code:'MANIFEST_SCHEMA',fragment:'functions.yaml:9'});
// hooks / programs
add(id('hook-not-supported'),{'functions.yaml':fn('counter',`${O}/counter.bpf.o`,{hooks:'[xdp]'}),'chain.yaml':chain({hook:'tc-ingress'})},{code:'HOOK_NOT_SUPPORTED_BY_FUNCTION',fragment:'chain.yaml:8'});
add(id('program-not-found'),{'functions.yaml':fn('counter',`${O}/counter.bpf.o`,{program:'nosuch'}),'chain.yaml':chain()},{code:'PROGRAM_NOT_FOUND',fragment:'functions.yaml:'});
add(id('program-wrong-type'),{'functions.yaml':fn('badfn',`${O}/bad_verifier.bpf.o`,{program:'badfn_tc',hooks:'[xdp]'}),'chain.yaml':chain({fns:'    - function: badfn\n'})},{code:'PROGRAM_NOT_FOUND',fragment:'functions.yaml:7:12: function "badfn@1.0.0": badfn_tc is a tc program; hook xdp needs an xdp program'});
add(id('invalid-hook-name'),withF(chain({hook:'xdp-ingress'})),{code:'MANIFEST_SCHEMA',fragment:'chain.yaml:5'});
add(id('invalid-kf-hook-name'),{'functions.yaml':fn('counter',`${O}/counter.bpf.o`,{hooks:'[xdp, tc]'})},{code:'MANIFEST_SCHEMA',fragment:'functions.yaml:8'});
// interfaces / netns
add(id('ifname-semicolon'),withF(chain({ifs:'["eth0;reboot"]'})),{code:'MANIFEST_SCHEMA',fragment:'chain.yaml:6'});
add(id('ifname-200-chars'),withF(chain({ifs:`["${'e'.repeat(200)}"]`})),{code:'MANIFEST_SCHEMA',fragment:'chain.yaml:6'});
add(id('ifname-unicode'),withF(chain({ifs:'["éth0"]'})),{code:'MANIFEST_SCHEMA',fragment:'chain.yaml:6'});
add(id('ifname-slash'),withF(chain({ifs:'["eth0/1"]'})),{code:'MANIFEST_SCHEMA',fragment:'chain.yaml:6'});
add(id('ifname-empty'),withF(chain({ifs:'[""]'})),{code:'MANIFEST_SCHEMA',fragment:'chain.yaml:6'});
add(id('netns-bad-name'),withF(chain({extra:'  netns: "../../proc/1/ns/net"\n'})),{code:'MANIFEST_SCHEMA',fragment:'chain.yaml:7'});
add(id('mode-on-tc'),withF(chain({hook:'tc-ingress',extra:'  mode: native\n'})),{code:'FIELD_NOT_APPLICABLE',fragment:'chain.yaml:7'});
add(id('position-on-xdp'),withF(chain({extra:'  position: first\n'})),{code:'FIELD_NOT_APPLICABLE',fragment:'chain.yaml:7'});
add(id('mode-invalid'),withF(chain({extra:'  mode: offload\n'})),{code:'MANIFEST_SCHEMA',fragment:'chain.yaml:7'});
// dirs
add(id('empty-directory'),{'.keep':''},{code:'MANIFEST_EMPTY',fragment:'empty-directory'});
add(id('only-non-yaml'),{'README.md':'# nothing\n','notes.txt':'x\n','chain.json':'{}\n'},{code:'MANIFEST_EMPTY',fragment:'only-non-yaml'});
add(id('only-comments'),{'chain.yaml':'# just a comment\n---\n# another\n'},{code:'MANIFEST_EMPTY',fragment:'only-comments'});
add(id('oversized-manifest'),{'.keep':''},{code:'MANIFEST_TOO_LARGE',fragment:'big.yaml',setup:'oversized-manifest'});
add(id('path-not-found'),{'.keep':''},{code:'MANIFEST_NOT_FOUND',fragment:'nosuch.yaml',pathSuffix:'nosuch.yaml'});
// maps / globals
add(id('map-too-many-entries'),{'functions.yaml':FUNCS},{code:'MAP_TOO_MANY_ENTRIES',fragment:'chain.yaml:',setup:'too-many-entries'});
add(id('map-unknown'),withF(chain({fns:'    - function: counter\n      maps:\n        countz: {}\n'})),{code:'MAP_NOT_FOUND',fragment:'chain.yaml:10'});
add(id('map-kfn-next'),withF(chain({fns:'    - function: counter\n      maps:\n        kfn_next: {}\n'})),{code:'MAP_NOT_FOUND',fragment:'chain.yaml:10'});
add(id('global-unknown'),withF(chain({fns:'    - function: ratelimit\n      globals: { rate_ppz: 5 }\n'})),{code:'GLOBAL_NOT_FOUND',fragment:'chain.yaml:9'});
add(id('global-negative'),withF(chain({fns:'    - function: ratelimit\n      globals:\n        rate_pps: -5\n'})),{code:'VALUE_INVALID',fragment:'chain.yaml:10'});
add(id('global-out-of-range'),withF(chain({fns:'    - function: ratelimit\n      globals:\n        burst: 4294967296\n'})),{code:'VALUE_INVALID',fragment:'chain.yaml:10'});
add(id('global-wrong-type'),withF(chain({fns:'    - function: ratelimit\n      globals:\n        burst: "lots"\n'})),{code:'VALUE_INVALID',fragment:'chain.yaml:10'});
add(id('map-value-out-of-range'),withP(chain({fns:'    - function: counter\n      maps:\n        counts:\n          "0": 18446744073709551616\n'})),{code:'VALUE_INVALID',fragment:'chain.yaml:11'});
add(id('map-key-out-of-range'),withP(chain({fns:'    - function: counter\n      maps:\n        counts:\n          "4294967296": 1\n'})),{code:'VALUE_INVALID',fragment:'chain.yaml:11'});
add(id('map-prefix-malformed'),withF(chain({fns:'    - function: blocklist\n      maps:\n        blocked_v4:\n          "198.18.0.300/32": 1\n'})),{code:'VALUE_INVALID',fragment:'chain.yaml:11'});
add(id('map-prefix-len-too-long'),withF(chain({fns:'    - function: blocklist\n      maps:\n        blocked_v4:\n          "10.0.0.0/33": 1\n'})),{code:'VALUE_INVALID',fragment:'chain.yaml:11'});
add(id('map-prefix-host-bits'),withF(chain({fns:'    - function: blocklist\n      maps:\n        blocked_v4:\n          "10.0.0.1/8": 1\n'})),{code:'VALUE_INVALID',fragment:'chain.yaml:11'});
add(id('map-v6-in-v4'),withF(chain({fns:'    - function: blocklist\n      maps:\n        blocked_v4:\n          "2001:db8::/32": 1\n'})),{code:'VALUE_INVALID',fragment:'chain.yaml:11'});
add(id('map-value-wrong-type'),withF(chain({fns:'    - function: blocklist\n      maps:\n        blocked_v4:\n          "10.0.0.0/8": [1]\n'})),{code:'VALUE_INVALID',fragment:'chain.yaml:11'});
add(id('map-struct-value-scalar'),withP(chain({fns:'    - function: ratelimit\n      maps:\n        bucket:\n          "0": 5\n'})),{code:'VALUE_INVALID',fragment:'chain.yaml:11'});
add(id('map-dup-after-normalise'),withF(chain({fns:'    - function: blocklist\n      maps:\n        blocked_v4:\n          "10.0.0.1": 1\n          "10.0.0.1/32": 2\n'})),{code:'VALUE_DUPLICATE_KEY',fragment:'chain.yaml:12'});
add(id('map-dup-v6-normalise'),withF(chain({fns:'    - function: blocklist\n      maps:\n        blocked_v6:\n          "2001:db8::1/128": 1\n          "2001:0db8:0:0::1/128": 2\n'})),{code:'VALUE_DUPLICATE_KEY',fragment:'chain.yaml:12'});
add(id('map-dup-int-normalise'),withP(chain({fns:'    - function: counter\n      maps:\n        counts:\n          "0": 1\n          "0x0": 2\n'})),{code:'VALUE_DUPLICATE_KEY',fragment:'chain.yaml:12'});
add(id('chain-conflict'),{'functions.yaml':FUNCS,'a.yaml':chain({name:'one'}),'b.yaml':chain({name:'two',ifs:'[eth1, eth0]'})},{code:'CHAIN_CONFLICT',fragment:'b.yaml:6'});
add(id('too-many-functions'),withF(chain({fns:Array.from({length:33},(_,k)=>`    - name: c${k}\n      function: counter\n`).join('')})),{code:'MANIFEST_SCHEMA',fragment:'chain.yaml:8'});
// kernel
const BADF=fn('badfn',`${O}/bad_verifier.bpf.o`,{program:'badfn_xdp',hooks:'[xdp]'});
add(id('kernel-verifier-rejected'),{'functions.yaml':BADF,'chain.yaml':chain({name:'kfn-corpus-verifier',ifs:'[lo]',extra:'  mode: generic\n',fns:'    - function: badfn\n'})},{code:'VERIFIER_REJECTED',fragment:'badfn',command:'apply --auto-approve',kernel:true});
add(id('kernel-interface-missing'),withF(chain({name:'kfn-corpus-noif',ifs:'[kfncorpus0]'})),{code:'INTERFACE_NOT_FOUND',fragment:'kfncorpus0',command:'plan',kernel:true});
add(id('kernel-netns-missing'),withF(chain({name:'kfn-corpus-nons',ifs:'[eth0]',extra:'  netns: kfn-corpus-nosuch-ns\n'})),{code:'NETNS_NOT_FOUND',fragment:'kfn-corpus-nosuch-ns',command:'plan',kernel:true});
add(id('kernel-xdp-native-unsupported'),withF(chain({name:'kfn-corpus-native',ifs:'[lo]',extra:'  mode: native\n'})),{code:'KERNEL_UNSUPPORTED',fragment:'XDP (native) on lo',command:'apply --auto-approve',kernel:true});
// silent acceptance / inputs that are not what they claim (issue 9)
add(id('yaml-omap-under-maps'),withF(chain({fns:'    - function: blocklist\n      maps:\n        blocked_v4: !!omap\n          - "10.0.0.0/8": 1\n'})),{code:'MANIFEST_YAML',fragment:'chain.yaml:11:11: !!omap is not supported'});
add(id('yaml-set-under-maps'),withF(chain({fns:'    - function: blocklist\n      maps:\n        blocked_v4: !!set\n          ? "10.0.0.0/8"\n'})),{code:'MANIFEST_YAML',fragment:'chain.yaml:11:11: !!set is not supported'});
add(id('map-v4-mapped-in-v6'),withF(chain({fns:'    - function: blocklist\n      maps:\n        blocked_v6:\n          "::ffff:198.18.0.1/128": 1\n'})),{code:'VALUE_INVALID',fragment:'chain.yaml:11'});
add(id('netns-dot'),withF(chain({extra:'  netns: "."\n'})),{code:'MANIFEST_SCHEMA',fragment:'chain.yaml:7'});
add(id('netns-dotdot'),withF(chain({extra:'  netns: ".."\n'})),{code:'MANIFEST_SCHEMA',fragment:'chain.yaml:7'});
add(id('manifest-fifo'),{'.keep':''},{code:'MANIFEST_READ',fragment:'in.yaml: this path is a FIFO',pathSuffix:'in.yaml',setup:'fifo-manifest'});
add(id('manifest-dev-zero'),{'.keep':''},{code:'MANIFEST_READ',fragment:'zero.yaml: this path is a character device',pathSuffix:'zero.yaml',setup:'dev-zero-manifest'});
add(id('map-70000-invalid-keys'),{'functions.yaml':FUNCS},{code:'VALUE_INVALID',fragment:'69900 more errors not shown (70000 in all)',setup:'many-invalid-keys'});
add(id('map-140000-duplicate-keys'),{'functions.yaml':FUNCS},{code:'MANIFEST_YAML',fragment:'more errors not shown',setup:'many-duplicate-keys'});
add(id('kernel-netns-regular-file'),{'functions.yaml':FUNCS},{code:'NETNS_NOT_FOUND',fragment:'network namespace "kfn-corpus-nsfile-',command:'plan',kernel:true,setup:'netns-regular-file'});
add(id('kernel-plan-out-missing-dir'),withF(chain({name:'kfn-corpus-out',ifs:'[lo]',extra:'  mode: generic\n'})),{code:'PLAN_FILE_WRITE',fragment:'/nonexistent-kfn-corpus does not exist',command:'plan -o /nonexistent-kfn-corpus/x.plan',kernel:true});
add(id('yaml-pairs-under-maps'),withF(chain({fns:'    - function: blocklist\n      maps:\n        blocked_v4: !!pairs\n          - "10.0.0.0/8": 1\n'})),{code:'MANIFEST_YAML',fragment:'chain.yaml:11:11: !!pairs is not supported'});
// A byte-order mark is accepted: an error after it is at the line and column of the text as written.
add(id('bom-then-bad-hook'),withF('\ufeff'+chain({hook:'xpd'})),{code:'MANIFEST_SCHEMA',fragment:'chain.yaml:5:9'});
// kfn's own files that are not what they claim: each case gets a state dir of its own, prepared by its "state".
const lo=withF(chain({name:'kfn-corpus-state',ifs:'[lo]',extra:'  mode: generic\n'}));
add(id('kernel-lock-file-directory'),lo,{code:'LOCK_FILE_INVALID',fragment:'is a directory',command:'apply --auto-approve',kernel:true,state:'lock-directory'});
add(id('kernel-lock-file-fifo'),lo,{code:'LOCK_FILE_INVALID',fragment:'FIFO',command:'apply --auto-approve',kernel:true,state:'lock-fifo'});
add(id('kernel-lock-file-device-symlink'),lo,{code:'LOCK_FILE_INVALID',fragment:'symbolic link',command:'destroy --all --auto-approve',kernel:true,state:'lock-device-symlink'});
add(id('kernel-journal-null'),lo,{code:'JOURNAL_INVALID',fragment:'line 1',command:'plan',kernel:true,state:'journal-null'});
add(id('kernel-state-dir-regular-file'),lo,{code:'STATE_DIR_UNUSABLE',fragment:'not a directory',command:'apply --auto-approve',kernel:true,state:'regular-file'});
fs.writeFileSync(path.join(HERE,'cases.json'), JSON.stringify(cases,null,2)+'\n');
console.log(cases.length);
