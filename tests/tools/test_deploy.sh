#!/usr/bin/env bash
# test_deploy.sh - deploy/ and examples/: every YAML parses and names itself, the ClusterRole
# only reads what the agent reads (and the Role in knative-serving only config-domain), the CRDs are the kinds the decoder accepts, the DaemonSet's
# mounts, capabilities, probes and flags, the image's packages; examples/ through the agent.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
t_init

AGENT=$BUILD/inferlb-agent
CLI=$BUILD/inferlb
D=$T_LOGDIR

if ! python3 -c 'import yaml' 2>/dev/null; then
	not_ok "python3 can read YAML" "python3-yaml is missing (apt-get install python3-yaml)"
	t_done
	exit 1
fi
if ! "$AGENT" --help >"$D/help" 2>&1; then
	not_ok "inferlb-agent --help runs" "missing or broken $AGENT (make all)" "$(head -3 "$D/help")"
	t_done
	exit 1
fi

# --- the files themselves, read with PyYAML: one line per check, "ok|not ok <TAB> desc <TAB> detail"
python3 - "$ROOT" "$D/help" >"$D/checks" 2>&1 <<'PY'
import glob, os, re, sys
import yaml

root, help_path = sys.argv[1], sys.argv[2]
help_text = open(help_path).read()

def report(passed, desc, detail=""):
    print("%s\t%s\t%s" % ("ok" if passed else "not ok", desc, str(detail).replace("\n", " ")[:600]))

def rel(path):
    return os.path.relpath(path, root)

# What the decoder accepts: the (apiVersion, kind) pairs of the kinds' rows in user/store/
# (const struct ilb_kind_def ilb_kind_X = { .name = "Kind", .versions = { { "v1", dec_x }, ... } }).
decoders = set()
for path in sorted(glob.glob(os.path.join(root, "user/store/*.c"))):
    for row in re.findall(r'^const struct ilb_kind_def ilb_kind_\w+ = \{(.*?)^\};', open(path).read(), re.S | re.M):
        name = re.search(r'\.name = "([A-Za-z]+)"', row)
        for version in re.findall(r'\{ "([^"]+)", dec_\w+ \}', row):
            decoders.add((version, name and name.group(1)))
report(len(decoders) >= 8 and all(k for _, k in decoders),
       "the kinds' rows in user/store/ are readable", sorted(decoders, key=str))

def group_of(api_version):
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""

deploy_files = sorted(glob.glob(os.path.join(root, "deploy/*.yaml")) +
                      glob.glob(os.path.join(root, "deploy/crds/*.yaml")))
example_files = sorted(glob.glob(os.path.join(root, "examples/**/*.yaml"), recursive=True))
report(len(deploy_files) >= 6, "deploy/ has its manifests and CRDs", [rel(f) for f in deploy_files])
report(len(example_files) >= 5, "examples/ has manifests", [rel(f) for f in example_files])

objects = []  # (file, object) of deploy/
for path in deploy_files + example_files:
    try:
        docs = [d for d in yaml.safe_load_all(open(path)) if d is not None]
    except yaml.YAMLError as e:
        report(False, "%s parses" % rel(path), e)
        continue
    bad = [i for i, d in enumerate(docs)
           if not isinstance(d, dict) or not d.get("apiVersion") or not d.get("kind")
           or not isinstance(d.get("metadata"), dict) or not d["metadata"].get("name")]
    report(docs and not bad, "%s parses: %d objects, each with apiVersion, kind, metadata.name"
           % (rel(path), len(docs)), "documents without them: %s" % bad)
    if path in deploy_files:
        objects += [(rel(path), d) for d in docs]

def find(kind, api_version=None):
    return [o for _, o in objects if o.get("kind") == kind and (not api_version or o["apiVersion"] == api_version)]

# --- namespace and RBAC
ns = [o["metadata"]["name"] for o in find("Namespace", "v1")]
report(ns == ["inferlb-system"], "one Namespace, inferlb-system", ns)
namespaced = [(f, o["kind"], o["metadata"].get("namespace")) for f, o in objects
              if o["kind"] in ("ServiceAccount", "DaemonSet")]
report(all(n == "inferlb-system" for _, _, n in namespaced) and namespaced,
       "the ServiceAccount and DaemonSet are in inferlb-system", namespaced)

roles = find("ClusterRole", "rbac.authorization.k8s.io/v1")
report(len(roles) == 1, "one ClusterRole", [r["metadata"]["name"] for r in roles])
role = roles[0] if roles else {"metadata": {"name": "?"}, "rules": []}
verbs = sorted({v for r in role.get("rules", []) for v in r.get("verbs", [])})
report(verbs == ["get", "list", "watch"] and all(sorted(r.get("verbs", [])) == verbs for r in role["rules"]),
       "ClusterRole verbs: get, list, watch on every rule, nothing else", verbs)
report(not any("resourceNames" in r or "nonResourceURLs" in r for r in role["rules"]),
       "ClusterRole: no resourceNames or nonResourceURLs")
granted = {(g, res) for r in role["rules"] for g in r.get("apiGroups", []) for res in r.get("resources", [])}
expected = {("", "pods"),
            ("inference.networking.k8s.io", "inferencepools"),
            ("inference.networking.x-k8s.io", "inferencepools"),
            ("inference.networking.x-k8s.io", "inferenceobjectives"),
            ("inference.networking.x-k8s.io", "inferencemodelrewrites"),
            ("inference.networking.x-k8s.io", "inferencemodels"),
            ("gateway.networking.k8s.io", "gateways"),
            ("gateway.networking.k8s.io", "httproutes"),
            ("serving.knative.dev", "services"),
            ("serving.knative.dev", "revisions"),
            ("serving.knative.dev", "routes"),
            ("networking.internal.knative.dev", "serverlessservices"),
            ("", "endpoints")}
report(granted == expected, "ClusterRole resources are exactly what the agent reads",
       "missing %s, extra %s" % (sorted(expected - granted), sorted(granted - expected)))

sas = find("ServiceAccount", "v1")
bindings = find("ClusterRoleBinding", "rbac.authorization.k8s.io/v1")
ok_binding = any(b["roleRef"]["kind"] == "ClusterRole" and b["roleRef"]["name"] == role["metadata"]["name"] and
                 any(s.get("kind") == "ServiceAccount" and s.get("name") == sa["metadata"]["name"] and
                     s.get("namespace") == sa["metadata"].get("namespace") for s in b.get("subjects", []))
                 for b in bindings for sa in sas)
report(ok_binding, "the ClusterRoleBinding gives the ClusterRole to the ServiceAccount")

# Knative's config-domain: a Role in knative-serving, that one ConfigMap by name, read only
kn_roles = [r for r in find("Role", "rbac.authorization.k8s.io/v1")]
kn_rules = [r for role_ in kn_roles for r in role_.get("rules", [])]
report(len(kn_roles) == 1 and kn_roles[0]["metadata"].get("namespace") == "knative-serving" and
       kn_rules == [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["config-domain"],
                     "verbs": ["get", "list", "watch"]}],
       "one Role, in knative-serving: get, list, watch on the ConfigMap config-domain only",
       [(r["metadata"].get("namespace"), r.get("rules")) for r in kn_roles])
kn_bindings = find("RoleBinding", "rbac.authorization.k8s.io/v1")
report(any(b["metadata"].get("namespace") == "knative-serving" and b["roleRef"]["kind"] == "Role" and
           any(b["roleRef"]["name"] == r["metadata"]["name"] for r in kn_roles) and
           any(s.get("kind") == "ServiceAccount" and s.get("name") == sa["metadata"]["name"] and
               s.get("namespace") == sa["metadata"].get("namespace") for s in b.get("subjects", []))
           for b in kn_bindings for sa in sas),
       "the RoleBinding gives that Role to the ServiceAccount")
kube_c = open(os.path.join(root, "user/source/kube.c")).read()
report('"/api/v1/namespaces/" ILB_KN_DOMAIN_NS "/configmaps"' in kube_c and
       '"fieldSelector=metadata.name%3D" ILB_KN_DOMAIN_NAME' in kube_c,
       "the agent lists configmaps in knative-serving by name, as resourceNames requires")
granted_all = granted | {(g, res) for r in kn_rules for g in r.get("apiGroups", []) for res in r.get("resources", [])}
decoded = {(group_of(v), k.lower() + ("" if k.endswith("s") else "s")) for v, k in decoders}
report(decoded <= granted_all, "every kind the decoder accepts may be listed and watched",
       sorted(decoded - granted_all))

# --- CRDs against the decoder
crds = find("CustomResourceDefinition", "apiextensions.k8s.io/v1")
served = set()
for crd in crds:
    spec, names = crd["spec"], crd["spec"]["names"]
    name_ok = crd["metadata"]["name"] == "%s.%s" % (names["plural"], spec["group"])
    report(name_ok, "CRD %s is named plural.group" % crd["metadata"]["name"])
    for v in spec["versions"]:
        pair = ("%s/%s" % (spec["group"], v["name"]), names["kind"])
        served.add(pair)
        report(pair in decoders, "CRD %s %s/%s is a kind and version the decoder accepts"
               % (names["kind"], spec["group"], v["name"]), "decoder: %s" % sorted(decoders))
        report(names["plural"] == names["kind"].lower() + "s" and names["singular"] == names["kind"].lower(),
               "CRD %s: plural and singular" % names["kind"])
need = {("inference.networking.k8s.io/v1", "InferencePool"),
        ("inference.networking.x-k8s.io/v1alpha2", "InferenceObjective"),
        ("inference.networking.x-k8s.io/v1alpha2", "InferenceModelRewrite")}
report(need <= served, "CRDs for InferencePool v1, InferenceObjective and InferenceModelRewrite",
       sorted(need - served))

def schema(kind):
    for crd in crds:
        if crd["spec"]["names"]["kind"] == kind:
            return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return {}

def at(node, path):
    for step in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get("items") if step == "[]" else node.get("properties", {}).get(step)
    return node

fields = {
    "InferencePool": ["spec.selector.matchLabels", "spec.targetPorts.[].number", "spec.appProtocol",
                      "spec.endpointPickerRef.name", "spec.endpointPickerRef.port.number",
                      "spec.endpointPickerRef.failureMode"],
    "InferenceObjective": ["spec.priority", "spec.poolRef.name", "spec.poolRef.group", "spec.poolRef.kind"],
    "InferenceModelRewrite": ["spec.poolRef.name", "spec.rules.[].matches.[].model.value",
                              "spec.rules.[].matches.[].model.type", "spec.rules.[].targets.[].modelRewrite",
                              "spec.rules.[].targets.[].weight"],
}
for kind, paths in fields.items():
    missing = [p for p in paths if at(schema(kind), p) is None]
    report(not missing, "CRD %s has the fields the agent reads" % kind, missing)

pool_src = open(os.path.join(root, "user/store/decode_pool.c")).read()
model_h = open(os.path.join(root, "user/store/store.h")).read()
modes = re.search(r"failure_modes\[\] = \{ (.*?), NULL \}", pool_src)
protocols = re.search(r"protocols\[\] = \{ (.*?), NULL \}", pool_src)
max_ports = re.search(r"#define ILB_MAX_TARGET_PORTS (\d+)", model_h)
pool = schema("InferencePool")
report(modes and sorted(re.findall(r'"([^"]+)"', modes.group(1))) ==
       sorted(at(pool, "spec.endpointPickerRef.failureMode").get("enum", [])),
       "InferencePool failureMode enum is the decoder's", modes and modes.group(1))
report(protocols and sorted(re.findall(r'"([^"]+)"', protocols.group(1))) ==
       sorted(at(pool, "spec.appProtocol").get("enum", [])),
       "InferencePool appProtocol enum is the decoder's", protocols and protocols.group(1))
report(max_ports and at(pool, "spec.targetPorts").get("maxItems") == int(max_ports.group(1)),
       "InferencePool targetPorts maxItems is ILB_MAX_TARGET_PORTS", max_ports and max_ports.group(1))

# --- the DaemonSet
dss = find("DaemonSet", "apps/v1")
report(len(dss) == 1, "one DaemonSet")
ds = dss[0] if dss else {"metadata": {}, "spec": {"template": {"metadata": {}, "spec": {"containers": [{}]}}}}
pod = ds["spec"]["template"]["spec"]
c = pod["containers"][0]
sc = c.get("securityContext", {})
caps = set(sc.get("capabilities", {}).get("add", []))
report(pod.get("hostNetwork") is True, "DaemonSet: hostNetwork")
report(sc.get("privileged") is not True and {"BPF", "NET_ADMIN", "PERFMON"} <= caps and
       "ALL" in sc.get("capabilities", {}).get("drop", []),
       "DaemonSet: not privileged; all capabilities dropped but BPF, NET_ADMIN, PERFMON and a few", sorted(caps))
report(pod.get("serviceAccountName") in [s["metadata"]["name"] for s in sas], "DaemonSet: runs as the ServiceAccount")
report(ds["spec"]["selector"]["matchLabels"].items() <= ds["spec"]["template"]["metadata"].get("labels", {}).items(),
       "DaemonSet: the selector matches the pod template")

volumes = {v["name"]: v for v in pod.get("volumes", [])}
mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
def host_mount(path, read_only):
    m = mounts.get(path)
    v = volumes.get(m["name"]) if m else None
    return bool(v and v.get("hostPath", {}).get("path") == path and bool(m.get("readOnly")) == read_only)
report(host_mount("/sys/fs/bpf", False) and volumes[mounts["/sys/fs/bpf"]["name"]]["hostPath"].get("type") == "DirectoryOrCreate",
       "DaemonSet: the node's /sys/fs/bpf, read-write, DirectoryOrCreate")
report(host_mount("/sys/kernel/btf", True), "DaemonSet: the node's /sys/kernel/btf, read-only")
report(host_mount("/run/inferlb", False), "DaemonSet: the node's /run/inferlb")

args = c.get("command", []) + c.get("args", [])
report(args[:1] == ["inferlb-agent"], "DaemonSet: runs inferlb-agent", args[:1])
flags = [a for a in args[1:] if a.startswith("-")]
unknown = [f for f in flags if not re.search(r"(^|[\s,])%s([\s=,]|$)" % re.escape(f.split("=")[0]), help_text, re.M)]
report(flags and not unknown, "DaemonSet: inferlb-agent --help lists every flag (%s)" % " ".join(flags), unknown)
env = {e["name"] for e in c.get("env", [])}
refs = set(re.findall(r"\$\((\w+)\)", " ".join(args)))
report(refs <= env, "DaemonSet: every $(VAR) of the command line is in env", sorted(refs - env))
def flag_value(name):
    return args[args.index(name) + 1] if name in args and args.index(name) + 1 < len(args) else None
metrics = flag_value("--metrics-addr") or "127.0.0.1:9464"
metrics_port = int(metrics.rsplit(":", 1)[1])
report("--iface" in flags and "--keep" in flags, "DaemonSet: --iface and --keep (the data path outlives an upgrade)")
report(flag_value("--pin-dir") in (None, "/sys/fs/bpf/inferlb") and flag_value("--socket") in (None, "/run/inferlb/agent.sock"),
       "DaemonSet: pins and socket in the mounted directories")
probes = {k: c.get(k, {}).get("httpGet", {}) for k in ("livenessProbe", "readinessProbe")}
report(probes["livenessProbe"].get("path") == "/healthz" and probes["readinessProbe"].get("path") == "/readyz" and
       all(p.get("port") == metrics_port for p in probes.values()),
       "DaemonSet: liveness on /healthz, readiness on /readyz, at --metrics-addr's port", probes)
if metrics.startswith("127.0.0.1:"):
    report(all(p.get("host") == "127.0.0.1" for p in probes.values()), "DaemonSet: probes reach a 127.0.0.1 metrics address")
annotations = ds["spec"]["template"]["metadata"].get("annotations", {})
report(annotations.get("prometheus.io/scrape") == "true" and annotations.get("prometheus.io/port") == str(metrics_port),
       "DaemonSet: Prometheus scrape annotations at the metrics port", annotations)
res = c.get("resources", {})
report({"cpu", "memory"} <= set(res.get("requests", {})) and "memory" in res.get("limits", {}),
       "DaemonSet: cpu and memory requests, a memory limit", res)
report(isinstance(pod.get("terminationGracePeriodSeconds"), int), "DaemonSet: terminationGracePeriodSeconds set")
report(pod.get("nodeSelector") and pod.get("tolerations"), "DaemonSet: nodeSelector and tolerations given")
PY
if ! grep -qP '^(ok|not ok)\t' "$D/checks"; then
	not_ok "the file checks ran" "$(tail -5 "$D/checks")"
fi
while IFS=$'\t' read -r verdict desc detail; do
	case "$verdict" in
	ok) ok "$desc" ;;
	"not ok") not_ok "$desc" "$detail" ;;
	*) not_ok "the file checks ran" "$verdict $desc $detail" ;;
	esac
done <"$D/checks"

# --- the image: two Debian 12 stages, make deps && make all, every library the binaries link
CF=$ROOT/deploy/Containerfile
check_eq "Containerfile: a Debian 12 build stage and a Debian 12 runtime stage" "2" \
	"$(grep -cE '^FROM debian:12(-slim)?( |$)' "$CF")"
check_cmd "Containerfile: builds with make deps and make all" \
	bash -c "grep -q 'make deps' '$CF' && grep -qE 'make .*all' '$CF'"
check_cmd "Containerfile: copies inferlb-agent and inferlb" \
	bash -c "grep -E '^COPY --from=' '$CF' | grep -q 'build/inferlb-agent' && grep -E '^COPY --from=' '$CF' | grep -q 'build/inferlb '"
missing=()
for lib in $(objdump -p "$AGENT" "$CLI" 2>/dev/null | awk '/NEEDED/ {print $2}' | sort -u); do
	path=$(ldconfig -p | awk -v l="$lib" '$1 == l {print $NF; exit}')
	pkg=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -1 | cut -d: -f1)
	[ -z "$pkg" ] && pkg=$(dpkg -S "$path" 2>/dev/null | head -1 | cut -d: -f1)
	[ "$pkg" = libc6 ] && continue
	grep -qw -- "$pkg" "$CF" || missing+=("$lib (${pkg:-no package})")
done
if [ ${#missing[@]} -eq 0 ]; then ok "Containerfile: installs the package of every library the binaries link"
else not_ok "Containerfile: installs the package of every library the binaries link" "missing: ${missing[*]}"; fi

# --- examples/ and deploy/ through the agent's own YAML reader and decoder
# run_agent NAME DIR: the agent on the manifests of DIR in a namespace of its own, no lanes.
run_agent() {
	local name=$1 dir=$2 pin=/sys/fs/bpf/$T_PREFIX-$1
	netns_add "$T_PREFIX-$name" || return 1
	on_cleanup "rm -rf $pin"
	SOCK=$D/$name.sock
	bg "agent_$name" ip netns exec "$T_PREFIX-$name" "$AGENT" --manifests "$dir" --no-l7 --pin-dir "$pin" \
		--socket "$SOCK" --metrics-addr off
	wait_for 10 "$CLI" --socket "$SOCK" status
}
# json CMD EXPR: evaluates a Python expression on `inferlb -j CMD` (as j: an object for
# status, a list for the others).
json() {
	"$CLI" --socket "$SOCK" -j "$1" | python3 -c "import json, sys; j = json.load(sys.stdin); print($2)"
}

mkdir -p "$D/all" "$D/derived"
for f in "$ROOT"/deploy/*.yaml "$ROOT"/deploy/crds/*.yaml; do cp "$f" "$D/all/deploy-$(basename "$f")"; done
cp "$ROOT"/examples/seed/*.yaml "$D/all/"
if run_agent all "$D/all"; then
	ok "the agent starts on deploy/ and examples/seed"
	check_eq "no document of deploy/ or examples/seed is rejected" "0 " \
		"$(json status '" ".join(str(s["errors"]) + " " + s["last_error"] for s in j["sources"])')"
	check_eq "examples/seed: the pools (smollm at min-scale 0: no pod)" \
		"default/llama FailClose 2 pods, default/qwen FailOpen 2 pods, default/smollm FailOpen 0 pods" \
		"$(json pools '", ".join("%s/%s %s %d pods" % (p["namespace"], p["name"], p["failure_mode"], p["total"]) for p in j)')"
	check_eq "examples/seed: the objectives" "batch-summaries llama -1, qwen qwen 1, smollm smollm 0, sql-assistant llama 10" \
		"$(json objectives '", ".join("%s %s %d" % (o["name"], o["pool"], o["priority"]) for o in j)')"
	# (not ready here: the namespace has no route to the placeholder addresses)
	check_eq "examples/seed: the backends, at each pool's target port" \
		"198.19.1.2:8080 198.19.2.2:8080 198.19.3.2:8000 198.19.4.2:8000" \
		"$(json backends '" ".join(sorted("%s:%d" % (b["ip"], b["port"]) for b in j))')"
else
	not_ok "the agent starts on deploy/ and examples/seed" "$(tail -5 "$T_LOGDIR/agent_all.log")"
fi

# without the pool written out, the agent derives the same one from the Knative Service
cp "$ROOT"/examples/seed/*.yaml "$D/derived/"
rm "$D/derived/qwen-pool.yaml"
if run_agent derived "$D/derived"; then
	check_eq "examples/seed without qwen-pool.yaml: qwen's pool and objective come from the Service" \
		"default/qwen FailOpen 2 pods; qwen 1" \
		"$(json pools '", ".join("%s/%s %s %d pods" % (p["namespace"], p["name"], p["failure_mode"], p["total"]) for p in j if p["name"] == "qwen")'); $(json objectives '", ".join("%s %d" % (o["name"], o["priority"]) for o in j if o["name"] == "qwen")')"
else
	not_ok "the agent starts on examples/seed without qwen-pool.yaml" "$(tail -5 "$T_LOGDIR/agent_derived.log")"
fi

t_done
