"""The Helm chart, rendered offline by Helm's own Go SDK (helm-python-sdk) for every scenario.

Each document is validated against Kubernetes 1.34 (kubernetes-validate), the KEDA schemas (tests/deploy/schemas)
and the prometheus-operator schemas (../shared/k8s-schemas, skipped where ../shared is absent); what schemas
cannot see is checked here: selectors, port names, secret keys, security defaults, replicas against partitions,
the worker's environment contract.
"""

from __future__ import annotations

import functools
import json
import re
import shlex
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from deploykit import CHART, RULES, SCHEMAS, required_module, shared_schemas
from referencing import Registry, Resource

from pipeline.core.brands import load_brands
from pipeline.settings import Settings, usable_cpus

SCENARIOS = sorted(CHART.glob("ci/*-values.yaml")) + sorted(CHART.glob("examples/*-values.yaml"))
IDS = [f"{p.parent.name}/{p.name}" for p in SCENARIOS]
K8S_VERSION = "v1.34.0-local-strict"
RELEASE, NAMESPACE = "rel", "buzz"
PROMETHEUS_OPERATOR = "prometheus-operator-v0.93.0"  # ../shared/k8s-schemas/<this>/
SHARED_CRDS = {("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor-monitoring-v1.json",
               ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrule-monitoring-v1.json"}
CRDS = {("keda.sh/v1alpha1", "ScaledObject"): "scaledobject-keda-v1alpha1.json",
        ("keda.sh/v1alpha1", "TriggerAuthentication"): "triggerauthentication-keda-v1alpha1.json"}
# The worker's environment contract (README, "Deploying on Kubernetes").
CONTRACT_ENV = {
    "KAFKA_BOOTSTRAP_SERVERS", "KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME",
    "KAFKA_SASL_PASSWORD_FILE", "KAFKA_SSL_CAFILE", "KAFKA_SSL_CERTFILE", "KAFKA_SSL_KEYFILE",
    "BUZZWATCH_BRANDS_FILE", "BUZZWATCH_METRICS_PORT", "BUZZWATCH_WEB_PORT", "BUZZWATCH_APP_ID",
    "BUZZWATCH_TOPIC_MENTIONS", "BUZZWATCH_TOPIC_SCORED", "BUZZWATCH_TOPIC_DLQ", "BUZZWATCH_TOPIC_ALERTS", "BUZZWATCH_TOPIC_DIGEST",
    "BUZZWATCH_TOPIC_FEEDBACK", "BUZZWATCH_TOPIC_PARTITIONS", "BUZZWATCH_TOPIC_REPLICATION", "BUZZWATCH_STORE",
    "BUZZWATCH_SCORER_PROCESSES",
    "BUZZWATCH_DATA_DIR", "BUZZWATCH_GRAFANA_URL_TEMPLATE", "BUZZWATCH_RUNBOOK_URL", "SLACK_DEFAULT_CHANNEL", "SLACK_BOT_TOKEN_FILE",
    "SLACK_SIGNING_SECRET_FILE", "SLACK_WEBHOOK_URL_FILE", "SLACK_DIGEST_CHANNEL"}


# --- rendering ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def helm() -> Any:
    return required_module("helm_python")


@pytest.fixture(scope="module")
def chart(helm: Any) -> Any:
    with helm.Chart.load(str(CHART)) as loaded:
        yield loaded


def values_of(path: Path) -> dict:
    return yaml.safe_load(path.read_text()) or {}


class StrictLoader(yaml.SafeLoader):
    """yaml.safe_load refusing a mapping key given twice (yaml keeps the last one, silently; so may Kubernetes)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            assert key not in seen, f"{key!r} given twice {key_node.start_mark}"
            seen.add(key)
        return super().construct_mapping(node, deep)


@functools.cache
def _render(chart: Any, key: str, values_json: str) -> tuple[dict, ...]:
    out = chart.render(values=json.loads(values_json), name=RELEASE, namespace=NAMESPACE)
    return tuple(doc for name, text in sorted(out.items()) if not name.endswith("NOTES.txt")
                 for doc in yaml.load_all(text, Loader=StrictLoader) if doc)


def render(chart: Any, values: dict) -> list[dict]:
    return list(_render(chart, "", json.dumps(values, sort_keys=True)))


def one(docs: list[dict], kind: str) -> dict:
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def pod_spec(docs: list[dict]) -> dict:
    return one(docs, "Deployment")["spec"]["template"]["spec"]


def settings_env(docs: list[dict]) -> dict[str, str]:
    deployment = one(docs, "Deployment")
    names = [e["configMapRef"]["name"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["envFrom"]]
    return {k: v for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] in names
            for k, v in d["data"].items()}


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


# --- schemas -----------------------------------------------------------------------------------

@functools.cache
def k8s_registry() -> tuple[Path, Registry]:
    kv = required_module("kubernetes_validate")
    base = Path(kv.__file__).parent / "kubernetes-json-schema" / K8S_VERSION
    definitions = Resource.from_contents(json.loads((base / "_definitions.json").read_text()))
    return base, definitions @ Registry()


def schema_errors(doc: dict) -> list[str]:
    key = (doc["apiVersion"], doc["kind"])
    if key in SHARED_CRDS:
        base = shared_schemas("k8s-schemas", "prometheus-operator", PROMETHEUS_OPERATOR)
        schema, registry = json.loads((base / SHARED_CRDS[key]).read_text()), Registry()
    elif key in CRDS:
        schema, registry = json.loads((SCHEMAS / CRDS[key]).read_text()), Registry()
    else:
        base, registry = k8s_registry()
        group, _, version = doc["apiVersion"].rpartition("/")
        name = f"{doc['kind'].lower()}{'-' + group.split('.')[0] if group else ''}-{version}.json"
        assert (base / name).is_file(), f"no Kubernetes 1.34 schema for {key}"
        schema = json.loads((base / name).read_text())
        registry = Resource.from_contents(schema) @ registry
    validator = jsonschema.Draft202012Validator(schema, registry=registry)
    return [f"{doc['kind']}/{doc['metadata']['name']} at {'.'.join(map(str, e.absolute_path)) or '/'}: {e.message[:300]}"
            for e in validator.iter_errors(doc)]


# --- every scenario ----------------------------------------------------------------------------

@pytest.mark.parametrize("scenario", SCENARIOS, ids=IDS)
def test_helm_lint_strict(helm: Any, scenario: Path) -> None:
    report = helm.lint(str(CHART), values_of(scenario), strict=True, kube_version="v1.34.0")
    problems = [m for m in report["messages"] if m["severity"] >= 2] + report["errors"]
    assert not problems, problems


@pytest.mark.parametrize("scenario", SCENARIOS, ids=IDS)
def test_every_document_matches_its_schema(chart: Any, scenario: Path) -> None:
    """Kubernetes and KEDA objects; the prometheus-operator ones in the next test (their schemas may be absent)."""
    docs = render(chart, values_of(scenario))
    errors = [e for doc in docs if (doc["apiVersion"], doc["kind"]) not in SHARED_CRDS for e in schema_errors(doc)]
    assert not errors, "\n".join(errors)
    assert all(d["metadata"].get("namespace") for d in docs), "every object names its namespace"
    assert {d["kind"] for d in docs if (d["apiVersion"], d["kind"]) in SHARED_CRDS} == operator_kinds(
        values_of(scenario)), "a ServiceMonitor / PrometheusRule exactly when the values enable it"


def operator_kinds(values: dict) -> set[str]:
    """The prometheus-operator objects a scenario's values enable."""
    return {kind for kind, key in (("ServiceMonitor", "serviceMonitor"), ("PrometheusRule", "prometheusRule"))
            if (values.get(key) or {}).get("enabled")}


MONITORED = [p for p in SCENARIOS if operator_kinds(values_of(p))]


@pytest.mark.parametrize("scenario", MONITORED, ids=[f"{p.parent.name}/{p.name}" for p in MONITORED])
def test_prometheus_operator_documents_match_their_schemas(chart: Any, scenario: Path) -> None:
    docs = [d for d in render(chart, values_of(scenario)) if (d["apiVersion"], d["kind"]) in SHARED_CRDS]
    assert docs
    errors = [e for doc in docs for e in schema_errors(doc)]
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=IDS)
def test_selectors_ports_and_references_agree(chart: Any, scenario: Path) -> None:
    docs = render(chart, values_of(scenario))
    deployment = one(docs, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container_ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert matches(deployment["spec"]["selector"]["matchLabels"], pod_labels)
    service = one(docs, "Service")
    assert matches(service["spec"]["selector"], pod_labels), "the Service selects the workers"
    assert {p["name"]: p["targetPort"] for p in service["spec"]["ports"]} == {"metrics": "metrics", "http": "http"}
    assert set(container_ports) == {"metrics", "http"}
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["port"] in container_ports, probe
    for doc in docs:
        kind = doc["kind"]
        if kind == "PodDisruptionBudget":
            assert matches(doc["spec"]["selector"]["matchLabels"], pod_labels)
        elif kind == "NetworkPolicy":
            assert matches(doc["spec"]["podSelector"]["matchLabels"], pod_labels)
            for rule in doc["spec"]["ingress"]:
                assert all(p["port"] in container_ports for p in rule["ports"])
        elif kind == "ServiceMonitor":
            assert matches(doc["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
            assert doc["spec"]["namespaceSelector"]["matchNames"] == [service["metadata"]["namespace"]]
            service_ports = {p["name"] for p in service["spec"]["ports"]}
            assert all(e["port"] in service_ports for e in doc["spec"]["endpoints"]), "endpoint names a Service port"
        elif kind in ("HorizontalPodAutoscaler", "ScaledObject"):
            ref = doc["spec"]["scaleTargetRef"]
            assert (ref["kind"], ref["name"]) == ("Deployment", deployment["metadata"]["name"])
            for trigger in doc["spec"].get("triggers", []):
                if "authenticationRef" in trigger:
                    auth = one(docs, "TriggerAuthentication")
                    assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]
    for constraint in pod_spec(docs).get("topologySpreadConstraints", []):
        assert matches(constraint["labelSelector"]["matchLabels"], pod_labels)
    volumes = {v["name"]: v for v in pod_spec(docs)["volumes"]}
    for mount in container["volumeMounts"]:
        assert mount["name"] in volumes
    for volume in volumes.values():
        if "configMap" in volume:
            assert volume["configMap"]["name"] in {d["metadata"]["name"] for d in docs if d["kind"] == "ConfigMap"}
    service_account = pod_spec(docs)["serviceAccountName"]
    created = [d for d in docs if d["kind"] == "ServiceAccount"]
    if created:
        assert created[0]["metadata"]["name"] == service_account


@pytest.mark.parametrize("scenario", SCENARIOS, ids=IDS)
def test_security_defaults_probes_and_resources(chart: Any, scenario: Path) -> None:
    spec = pod_spec(render(chart, values_of(scenario)))
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert spec["automountServiceAccountToken"] is False
    container = spec["containers"][0]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert "memory" in container["resources"]["limits"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


@pytest.mark.parametrize("scenario", SCENARIOS, ids=IDS)
def test_workers_never_outnumber_partitions(chart: Any, scenario: Path) -> None:
    docs = render(chart, values_of(scenario))
    partitions = int(settings_env(docs)["BUZZWATCH_TOPIC_PARTITIONS"])
    deployment = one(docs, "Deployment")
    most = [deployment["spec"].get("replicas", 0)]
    most += [d["spec"]["maxReplicas"] for d in docs if d["kind"] == "HorizontalPodAutoscaler"]
    most += [d["spec"]["maxReplicaCount"] for d in docs if d["kind"] == "ScaledObject"]
    assert max(most) <= partitions
    strategy = deployment["spec"]["strategy"]
    assert strategy["rollingUpdate"]["maxSurge"] == 0, "a rolling update never adds a worker beyond the partitions"
    if "replicas" in deployment["spec"]:
        assert not [d for d in docs if d["kind"] in ("HorizontalPodAutoscaler", "ScaledObject")]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=IDS)
def test_secret_keys_come_from_documented_values(chart: Any, scenario: Path) -> None:
    """Every Secret key the pods (or KEDA) read is the value of a commented `...Key` entry of values.yaml."""
    values = chart.merge_values(values_of(scenario))
    documented = commented_keys()
    key_values: dict[str, set[str]] = {}

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{path}.{k}" if path else k)
        elif path.endswith("Key") and node:
            key_values.setdefault(node, set()).add(path)

    walk(values, "")
    docs = render(chart, values_of(scenario))
    used = [(item["key"], v["secret"]["secretName"]) for v in pod_spec(docs)["volumes"] if "secret" in v
            for item in v["secret"]["items"]]
    used += [(r["key"], r["name"]) for d in docs if d["kind"] == "TriggerAuthentication"
             for r in d["spec"].get("secretTargetRef", [])]
    for key, secret in used:
        paths = key_values.get(key, set())
        assert paths & documented, f"Secret {secret} key {key!r} is no documented values.yaml entry (from {paths})"
    assert not [d for d in docs if d["kind"] == "Secret"], "the chart never creates Secrets (existingSecret only)"


@pytest.mark.parametrize("scenario", SCENARIOS, ids=IDS)
def test_environment_is_the_worker_contract_and_settings_accept_it(chart: Any, scenario: Path,
                                                                     tmp_path: Path) -> None:
    docs = render(chart, values_of(scenario))
    env = settings_env(docs)
    spec = pod_spec(docs)
    container = spec["containers"][0]
    extra = set(values_of(scenario).get("app", {}).get("extraEnv", {}))
    assert set(env) - extra <= CONTRACT_ENV, set(env) - extra - CONTRACT_ENV
    assert container["args"] == ["worker"] and "command" not in container  # the image's ENTRYPOINT: buzzwatch
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert (int(env["BUZZWATCH_METRICS_PORT"]), int(env["BUZZWATCH_WEB_PORT"])) == (ports["metrics"], ports["http"])
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert "emptyDir" in volumes[mounts[env["BUZZWATCH_DATA_DIR"]]], "data dir: writable emptyDir"
    # Every file the environment points at is mounted, from the volume that carries it.
    files = {k: v for k, v in env.items() if k.endswith(("_FILE", "_CAFILE", "_CERTFILE", "_KEYFILE"))}
    for name, path in files.items():
        volume = volumes[mounts[str(Path(path).parent)]]
        source = volume.get("secret", volume.get("configMap"))
        assert Path(path).name in [i.get("path", i.get("key")) for i in source.get("items", [])] or "configMap" in volume, name
    # pipeline.settings accepts the rendered environment (secret files replaced by test files).
    local = dict(env)
    for name, path in files.items():
        target = tmp_path / Path(path).name
        target.write_text("s3cret\n")
        local[name] = str(target)
    brands = [d for d in docs if d["kind"] == "ConfigMap" and "brands.yaml" in d["data"]]
    if brands:
        (tmp_path / "brands.yaml").write_text(brands[0]["data"]["brands.yaml"])
        local["BUZZWATCH_BRANDS_FILE"] = str(tmp_path / "brands.yaml")
        assert [b.id for b in load_brands(tmp_path / "brands.yaml")] == [b["id"] for b in values_of(scenario)["brands"]]
    settings = Settings.from_env(local)
    assert settings.kafka_bootstrap_servers == env["KAFKA_BOOTSTRAP_SERVERS"]
    assert settings.topic_partitions == int(env["BUZZWATCH_TOPIC_PARTITIONS"])
    processes = str(values_of(scenario).get("app", {}).get("scorerProcesses", "auto"))
    assert env["BUZZWATCH_SCORER_PROCESSES"] == processes
    assert settings.scorer_processes == (int(processes) if processes != "auto" else (usable_cpus() >= 2))
    slack = values_of(scenario).get("slack", {})
    assert (settings.topic_digest, settings.slack_digest_channel) == (
        values_of(scenario).get("kafka", {}).get("topics", {}).get("digest", "digest"), slack.get("digestChannel") or None)
    assert settings.runbook_url == (values_of(scenario).get("app", {}).get("runbookUrl") or None)


# --- single checks -----------------------------------------------------------------------------

def test_prometheus_rule_embeds_the_promtool_tested_file(chart: Any) -> None:
    docs = render(chart, {"prometheusRule": {"enabled": True}})
    assert one(docs, "PrometheusRule")["spec"]["groups"] == yaml.safe_load(RULES.read_text())["groups"]


def test_dashboard_configmap_carries_the_committed_json_with_the_sidecar_label(chart: Any) -> None:
    docs = render(chart, {})
    dashboards = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-dashboard")]
    assert len(dashboards) == 1
    assert dashboards[0]["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dashboards[0]["data"]["buzzwatch.json"] == (CHART / "dashboards" / "buzzwatch.json").read_text()


def test_monitoring_objects_only_when_asked(chart: Any) -> None:
    kinds = {d["kind"] for d in render(chart, {})}
    assert not kinds & {"ServiceMonitor", "PrometheusRule", "HorizontalPodAutoscaler", "ScaledObject", "NetworkPolicy"}


def test_the_runbook_reaches_the_worker_as_set_and_per_brand(chart: Any, tmp_path: Path) -> None:
    """app.runbookUrl -> BUZZWATCH_RUNBOOK_URL (absent when empty); a brand's runbook_url -> its brands file entry."""
    assert "BUZZWATCH_RUNBOOK_URL" not in settings_env(render(chart, {}))
    url = "https://wiki.example.com/runbooks/{brand}"
    docs = render(chart, {"app": {"runbookUrl": url},
                          "brands": [{"id": "acme", "handles": ["@acme"], "runbook_url": "https://wiki.example.com/acme"}]})
    assert settings_env(docs)["BUZZWATCH_RUNBOOK_URL"] == url
    assert Settings.from_env({"BUZZWATCH_RUNBOOK_URL": settings_env(docs)["BUZZWATCH_RUNBOOK_URL"]}).runbook_url == url
    (brands,) = [d for d in docs if d["kind"] == "ConfigMap" and "brands.yaml" in d["data"]]
    (tmp_path / "brands.yaml").write_text(brands["data"]["brands.yaml"])
    assert load_brands(tmp_path / "brands.yaml")[0].runbook_url == "https://wiki.example.com/acme"


def test_pods_roll_when_the_brands_change(chart: Any) -> None:
    def checksum(values: dict) -> str:  # rendered afresh each time (render() caches by values)
        out = chart.render(values=values, name=RELEASE, namespace=NAMESPACE)
        docs = [d for name, text in out.items() if name.endswith("deployment.yaml") for d in yaml.safe_load_all(text) if d]
        return one(docs, "Deployment")["spec"]["template"]["metadata"]["annotations"]["checksum/config"]

    a = {"brands": [{"id": "acme", "handles": ["@acme"]}]}
    b = {"brands": [{"id": "acme", "handles": ["@acme", "@acmeair"]}]}
    assert checksum(a) != checksum(b)
    assert checksum(a) == checksum(a), "the same values, two renders: the same checksum (no roll)"
    assert checksum({**a, "replicaCount": 3}) == checksum(a), "scaling alone does not roll the pods"


def test_notes_tell_how_to_watch_the_rollout(chart: Any) -> None:
    notes = chart.render(values={}, name=RELEASE, namespace=NAMESPACE)["buzzwatch/templates/NOTES.txt"]
    assert f"rollout status deployment/{RELEASE}-buzzwatch" in notes
    assert "slack.existingSecret is empty" in notes


BAD_VALUES = [
    ({"replicaCount": "two"}, "at '/replicaCount': got string, want integer"),
    ({"kafka": {"securityProtocol": "SASL_SSL", "sasl": {"mechanism": "GSSAPI", "username": "u",
                                                         "existingSecret": "s"}}},
     "at '/kafka/sasl/mechanism': value must be one of"),
    ({"kafka": {"securityProtocol": "TLS"}}, "at '/kafka/securityProtocol': value must be one of"),
    ({"kafka": {"securityProtocol": "SASL_SSL"}}, "at '/kafka/sasl/existingSecret'"),
    ({"kafka": {"bootstrapServers": "kafka"}}, "at '/kafka/bootstrapServers'"),
    ({"replicas": 3}, "additional properties 'replicas' not allowed"),
    ({"brands": [{"id": "Acme Air", "handles": ["@acme"]}]}, "at '/brands/0/id'"),
    ({"brands": [{"id": "acme", "handles": ["acme"]}]}, "at '/brands/0/handles/0'"),
    ({"app": {"store": "redis://"}}, "at '/app/store'"),
    ({"app": {"scorerProcesses": 2}}, "at '/app/scorerProcesses'"),
    ({"app": {"extraEnv": {"batch_size": "10"}}}, "at '/app/extraEnv'"),
    ({"app": {"grafanaUrlTemplate": "https://grafana/d/x"}}, "at '/app/grafanaUrlTemplate'"),
    ({"app": {"runbookUrl": "wiki/runbooks"}}, "at '/app/runbookUrl'"),
    ({"brands": [{"id": "acme", "handles": ["@acme"], "runbook_url": "wiki/acme"}]}, "at '/brands/0/runbook_url'"),
    ({"replicaCount": 5}, "replicaCount (5) must not exceed kafka.topics.partitions (4)"),
    ({"autoscaling": {"enabled": True, "maxReplicas": 10}}, "autoscaling.maxReplicas (10) must not exceed"),
    ({"keda": {"enabled": True, "maxReplicaCount": 8}}, "keda.maxReplicaCount (8) must not exceed"),
    ({"keda": {"enabled": True}, "autoscaling": {"enabled": True}}, "choose one"),
    ({"kafka": {"securityProtocol": "SSL", "tls": {"existingSecret": "t", "certKey": "tls.crt"}}},
     "kafka.tls.certKey and kafka.tls.keyKey go together"),
    ({"kafka": {"topics": {"scored": "mentions scored"}}}, "at '/kafka/topics/scored'"),
    ({"kafka": {"topics": {"scored": "mentions"}}},
     'kafka.topics.mentions and kafka.topics.scored are both "mentions": each role needs its own topic'),
    # botTokenKey defaults to bot-token: a webhook added without clearing it gave the worker both, which it refuses.
    ({"slack": {"existingSecret": "s", "webhookUrlKey": "webhook-url"}},
     'slack.botTokenKey ("bot-token") and slack.webhookUrlKey ("webhook-url") are both set: choose one'),
    # A secret also given in app.extraEnv reached the worker both ways, which it refuses (the file used to win).
    ({"slack": {"existingSecret": "s"}, "app": {"extraEnv": {"SLACK_BOT_TOKEN": "xoxb-1"}}},
     "app.extraEnv.SLACK_BOT_TOKEN and SLACK_BOT_TOKEN_FILE (from slack.existingSecret, key slack.botTokenKey) "
     "both give SLACK_BOT_TOKEN: the worker refuses a secret given both ways; give it once"),
    ({"kafka": {"securityProtocol": "SASL_SSL", "sasl": {"mechanism": "PLAIN", "username": "u", "existingSecret": "k"}},
      "app": {"extraEnv": {"KAFKA_SASL_PASSWORD": "p"}}},
     "app.extraEnv.KAFKA_SASL_PASSWORD and KAFKA_SASL_PASSWORD_FILE (from kafka.sasl.existingSecret, key "
     "kafka.sasl.passwordKey) both give KAFKA_SASL_PASSWORD"),
    ({"app": {"extraEnv": {"SLACK_SIGNING_SECRET": "x", "SLACK_SIGNING_SECRET_FILE": "/x"}}},
     "app.extraEnv.SLACK_SIGNING_SECRET and app.extraEnv.SLACK_SIGNING_SECRET_FILE both give SLACK_SIGNING_SECRET"),
    # A variable the chart sets, named again in app.extraEnv: the ConfigMap had the key twice, one value silently won.
    ({"app": {"extraEnv": {"KAFKA_BOOTSTRAP_SERVERS": "other:9092"}}},
     "app.extraEnv.KAFKA_BOOTSTRAP_SERVERS and the chart (from kafka.bootstrapServers) both give "
     "KAFKA_BOOTSTRAP_SERVERS: the container would get it twice, and one would silently win; give it once "
     "(to keep the chart's, remove app.extraEnv.KAFKA_BOOTSTRAP_SERVERS)"),
    ({"slack": {"existingSecret": "s"}, "app": {"extraEnv": {"SLACK_BOT_TOKEN_FILE": "/run/token"}}},
     "app.extraEnv.SLACK_BOT_TOKEN_FILE and the chart (from slack.existingSecret, key slack.botTokenKey) both give "
     "SLACK_BOT_TOKEN_FILE"),
    ({"app": {"extraEnv": {"BUZZWATCH_TOPIC_PARTITIONS": "12"}}},
     "app.extraEnv.BUZZWATCH_TOPIC_PARTITIONS and the chart (from kafka.topics.partitions) both give "
     "BUZZWATCH_TOPIC_PARTITIONS"),
    # A bot token and a webhook, one of them (or both) from app.extraEnv: rendered, and the worker refused them.
    ({"slack": {"existingSecret": "s", "botTokenKey": "", "webhookUrlKey": "webhook-url"},
      "app": {"extraEnv": {"SLACK_BOT_TOKEN": "xoxb-1"}}},
     "app.extraEnv.SLACK_BOT_TOKEN and SLACK_WEBHOOK_URL_FILE (from slack.existingSecret, key slack.webhookUrlKey) "
     "give a bot token and a webhook: the worker refuses them together; choose one"),
    ({"slack": {"existingSecret": "s"}, "app": {"extraEnv": {"SLACK_WEBHOOK_URL_FILE": "/run/webhook"}}},
     "SLACK_BOT_TOKEN_FILE (from slack.existingSecret, key slack.botTokenKey) and app.extraEnv.SLACK_WEBHOOK_URL_FILE "
     "give a bot token and a webhook: the worker refuses them together; choose one"),
    ({"app": {"extraEnv": {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_WEBHOOK_URL": "https://hooks.slack.com/x"}}},
     "app.extraEnv.SLACK_BOT_TOKEN and app.extraEnv.SLACK_WEBHOOK_URL give a bot token and a webhook"),
]


@pytest.mark.parametrize(("values", "message"), BAD_VALUES, ids=[m[:40] for _, m in BAD_VALUES])
def test_bad_values_are_refused_with_a_clear_message(helm: Any, chart: Any, values: dict, message: str) -> None:
    with pytest.raises(helm.HelmError) as refused:
        chart.render(values=values, name=RELEASE, namespace=NAMESPACE)
    assert message in str(refused.value)


# Between them, values under which the chart sets every variable of its contract.
EVERY_VARIABLE = [
    {"kafka": {"securityProtocol": "SASL_SSL", "sasl": {"mechanism": "PLAIN", "username": "u", "existingSecret": "k"},
               "tls": {"existingSecret": "t", "certKey": "tls.crt", "keyKey": "tls.key"}},
     "app": {"grafanaUrlTemplate": "https://grafana.example.com/d/b?var-brand={brand}",
             "runbookUrl": "https://wiki.example.com/{brand}"},
     "slack": {"existingSecret": "s", "defaultChannel": "C1", "digestChannel": "C2"},
     "brands": [{"id": "acme", "handles": ["@acme"]}]},
    {"slack": {"existingSecret": "s", "botTokenKey": "", "webhookUrlKey": "webhook-url"}},
]


def test_every_variable_the_chart_sets_is_refused_in_extra_env_naming_the_values_it_comes_from(
        helm: Any, chart: Any) -> None:
    """Before, app.extraEnv could name any of them: the ConfigMap had the key twice, and one value silently won."""
    defaults = chart.merge_values({})
    refused: set[str] = set()
    for values in EVERY_VARIABLE:
        for name in settings_env(render(chart, values)):
            with pytest.raises(helm.HelmError) as err:
                chart.render(values={**values, "app": {**values.get("app", {}), "extraEnv": {name: "x"}}},
                             name=RELEASE, namespace=NAMESPACE)
            found = re.search(rf"app\.extraEnv\.{name} and the chart \(from (.+?)\) both give {name}: ", str(err.value))
            assert found, str(err.value)
            for path in re.findall(r"\b[a-z]\w*(?:\.\w+)+", found.group(1)):  # each value it names exists
                node: Any = defaults
                for part in path.split("."):
                    assert isinstance(node, dict) and part in node, f"{name}: {path} is no value"
                    node = node[part]
            refused.add(name)
    assert refused == CONTRACT_ENV


@pytest.mark.parametrize("values", [{}, *[values_of(p) for p in SCENARIOS],
                                    {"app": {"extraEnv": {"SLACK_DEFAULT_CHANNEL": "C1", "BUZZWATCH_BATCH_SIZE": "10"}}},
                                    {"slack": {"existingSecret": "s", "botTokenKey": "", "webhookUrlKey": "webhook-url"},
                                     "app": {"extraEnv": {"SLACK_BOT_TOKEN": ""}}}],
                         ids=["defaults", *IDS, "extraEnv-unset-by-the-chart", "extraEnv-empty-token-beside-webhook"])
def test_default_values_every_example_and_extra_env_the_chart_does_not_set_render_each_variable_once(
        chart: Any, values: dict, tmp_path: Path) -> None:
    docs = render(chart, values)  # the test loader refuses a key given twice
    env = settings_env(docs)
    assert {k: env[k] for k in values.get("app", {}).get("extraEnv", {})} == values.get("app", {}).get("extraEnv", {})
    local = dict(env)
    for name in [k for k in env if k.endswith(("_FILE", "_CAFILE", "_CERTFILE", "_KEYFILE"))]:
        (tmp_path / name).write_text("s3cret\n")  # the worker's settings accept it, secret files replaced
        local[name] = str(tmp_path / name)
    local.pop("BUZZWATCH_BRANDS_FILE", None)
    Settings.from_env(local)


def documented_installs() -> list[tuple[str, list[str]]]:
    """Each ``helm install`` of the READMEs' shell blocks: where, and its arguments as the shell passes them."""
    found = []
    for doc in (CHART.parents[1] / "README.md", CHART / "README.md"):
        for block in re.findall(r"```sh\n(.*?)```", doc.read_text(), re.S):
            for command in block.replace("\\\n", " ").splitlines():
                if command.strip().startswith("helm install"):
                    found.append((doc.relative_to(CHART.parents[1]).as_posix(), shlex.split(command)))
    return found


@pytest.mark.parametrize(("where", "args"), documented_installs(), ids=[w for w, _ in documented_installs()])
def test_the_documented_helm_install_commands_render(helm: Any, chart: Any, where: str, args: list[str]) -> None:
    """Before, README.md's --set kafka.bootstrapServers=kafka-1:9093,kafka-2:9093 failed in Helm's own parser
    ('key "kafka-2:9093" has no value': a comma separates --set assignments)."""
    values: dict = {}
    sets = [value for option, value in zip(args, args[1:], strict=False) if option == "--set"]
    assert sets and "-f" not in args and "--values" not in args, args  # what this test reads
    for expression in sets:
        parsed = helm.parse_set_string(expression)
        values = _merged(values, parsed)
    docs = render(chart, values)
    assert settings_env(docs)["KAFKA_BOOTSTRAP_SERVERS"] == values["kafka"]["bootstrapServers"]


def _merged(into: dict, new: dict) -> dict:
    out = dict(into)
    for key, value in new.items():
        out[key] = _merged(out.get(key, {}), value) if isinstance(value, dict) else value
    return out


# --- values.yaml -------------------------------------------------------------------------------

@functools.cache
def _values_lines() -> tuple[str, ...]:
    return tuple((CHART / "values.yaml").read_text().splitlines())


def commented_keys() -> set[str]:
    """Dotted paths of values.yaml keys with a comment right above them."""
    found, stack, previous = set(), [], ""
    for line in _values_lines():
        m = re.match(r"^(\s*)([A-Za-z_][\w]*):", line)
        if m:
            indent = len(m.group(1))
            while stack and stack[-1][0] >= indent:
                stack.pop()
            stack.append((indent, m.group(2)))
            if previous.lstrip().startswith("#"):
                found.add(".".join(k for _, k in stack))
        if line.strip():
            previous = line
    return found


def test_every_values_key_is_commented() -> None:
    """Each key has a comment above it, or sits in a block whose key has one (e.g. podSecurityContext)."""
    documented = commented_keys()
    stack: list[tuple[int, str]] = []
    missing = []
    for line in _values_lines():
        m = re.match(r"^(\s*)([A-Za-z_][\w]*):\s*(.*)$", line)
        if not m:
            continue
        indent = len(m.group(1))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, m.group(2)))
        paths = {".".join(k for _, k in stack[:n]) for n in range(1, len(stack) + 1)}
        is_leaf = bool(m.group(3).strip())
        if is_leaf and not paths & documented:
            missing.append(".".join(k for _, k in stack))
    assert not missing, missing


def test_every_value_the_templates_use_exists_in_values_yaml() -> None:
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    used = {m for t in (CHART / "templates").glob("*") for m in re.findall(r"\.Values\.([\w.]+)", t.read_text())}
    missing = []
    for path in used:
        node: Any = defaults
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                missing.append(path)
                break
            node = node[part]
    assert not missing, missing


def test_values_schema_covers_every_values_key() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    assert set(defaults) <= set(schema["properties"])
    jsonschema.Draft7Validator(schema).validate(defaults)
