{{/* Expand the name of the chart. */}}
{{- define "buzzwatch.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
A default fully qualified app name, truncated at 63 characters (DNS label limit).
If the release name contains the chart name it is used as the full name.
*/}}
{{- define "buzzwatch.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Chart name and version, as used by the chart label. */}}
{{- define "buzzwatch.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Common labels. */}}
{{- define "buzzwatch.labels" -}}
helm.sh/chart: {{ include "buzzwatch.chart" . }}
{{ include "buzzwatch.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: worker
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels (immutable in a Deployment: never add to these). */}}
{{- define "buzzwatch.selectorLabels" -}}
app.kubernetes.io/name: {{ include "buzzwatch.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The name of the service account to use. */}}
{{- define "buzzwatch.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "buzzwatch.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The container image reference. */}}
{{- define "buzzwatch.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* Where secrets and TLS material are mounted in the container (fixed paths; keys are mapped to them). */}}
{{- define "buzzwatch.slackSecretDir" -}}/etc/buzzwatch/secrets/slack{{- end }}
{{- define "buzzwatch.kafkaSecretDir" -}}/etc/buzzwatch/secrets/kafka{{- end }}
{{- define "buzzwatch.kafkaTlsDir" -}}/etc/buzzwatch/tls{{- end }}
{{- define "buzzwatch.brandsDir" -}}/etc/buzzwatch/brands{{- end }}

{{/* true when the Kafka connection uses SASL / TLS. */}}
{{- define "buzzwatch.kafkaSasl" -}}
{{- if hasPrefix "SASL_" .Values.kafka.securityProtocol }}true{{ end }}
{{- end }}
{{- define "buzzwatch.kafkaTls" -}}
{{- if has .Values.kafka.securityProtocol (list "SSL" "SASL_SSL") }}true{{ end }}
{{- end }}
{{/* true when TLS material is mounted from kafka.tls.existingSecret. */}}
{{- define "buzzwatch.kafkaTlsMount" -}}
{{- with .Values.kafka.tls }}
{{- if and (include "buzzwatch.kafkaTls" $) .existingSecret (or .caKey .certKey) }}true{{ end }}
{{- end }}
{{- end }}

{{/*
The environment the chart gives the worker, in the ConfigMap's order, before app.extraEnv: YAML
{env: [{name, value, from}]}, "from" naming the values that set it. The ConfigMap renders it, and
buzzwatch.validate refuses an app.extraEnv entry naming one of its variables (given twice, one value
would silently win).
*/}}
{{- define "buzzwatch.chartEnv" -}}
{{- $env := list }}
{{- $env = append $env (dict "name" "KAFKA_BOOTSTRAP_SERVERS" "value" .Values.kafka.bootstrapServers "from" "kafka.bootstrapServers") }}
{{- $env = append $env (dict "name" "KAFKA_SECURITY_PROTOCOL" "value" .Values.kafka.securityProtocol "from" "kafka.securityProtocol") }}
{{- if include "buzzwatch.kafkaSasl" . }}
{{- $env = append $env (dict "name" "KAFKA_SASL_MECHANISM" "value" .Values.kafka.sasl.mechanism "from" "kafka.sasl.mechanism") }}
{{- $env = append $env (dict "name" "KAFKA_SASL_USERNAME" "value" .Values.kafka.sasl.username "from" "kafka.sasl.username") }}
{{- $env = append $env (dict "name" "KAFKA_SASL_PASSWORD_FILE" "value" (printf "%s/password" (include "buzzwatch.kafkaSecretDir" .)) "from" "kafka.sasl.existingSecret, key kafka.sasl.passwordKey") }}
{{- end }}
{{- if include "buzzwatch.kafkaTlsMount" . }}
{{- if .Values.kafka.tls.caKey }}
{{- $env = append $env (dict "name" "KAFKA_SSL_CAFILE" "value" (printf "%s/ca.crt" (include "buzzwatch.kafkaTlsDir" .)) "from" "kafka.tls.existingSecret, key kafka.tls.caKey") }}
{{- end }}
{{- if .Values.kafka.tls.certKey }}
{{- $env = append $env (dict "name" "KAFKA_SSL_CERTFILE" "value" (printf "%s/tls.crt" (include "buzzwatch.kafkaTlsDir" .)) "from" "kafka.tls.existingSecret, key kafka.tls.certKey") }}
{{- $env = append $env (dict "name" "KAFKA_SSL_KEYFILE" "value" (printf "%s/tls.key" (include "buzzwatch.kafkaTlsDir" .)) "from" "kafka.tls.existingSecret, key kafka.tls.keyKey") }}
{{- end }}
{{- end }}
{{- $env = append $env (dict "name" "BUZZWATCH_APP_ID" "value" .Values.app.id "from" "app.id") }}
{{- range $role := list "mentions" "scored" "dlq" "alerts" "digest" "feedback" "partitions" "replication" }}
{{- $env = append $env (dict "name" (printf "BUZZWATCH_TOPIC_%s" (upper $role)) "value" (index $.Values.kafka.topics $role) "from" (printf "kafka.topics.%s" $role)) }}
{{- end }}
{{- $env = append $env (dict "name" "BUZZWATCH_STORE" "value" .Values.app.store "from" "app.store") }}
{{- $env = append $env (dict "name" "BUZZWATCH_SCORER_PROCESSES" "value" .Values.app.scorerProcesses "from" "app.scorerProcesses") }}
{{- $env = append $env (dict "name" "BUZZWATCH_DATA_DIR" "value" "/var/lib/buzzwatch" "from" "its data volume, mounted there") }}
{{- $env = append $env (dict "name" "BUZZWATCH_METRICS_PORT" "value" .Values.ports.metrics "from" "ports.metrics") }}
{{- $env = append $env (dict "name" "BUZZWATCH_WEB_PORT" "value" .Values.ports.http "from" "ports.http") }}
{{- if .Values.brands }}
{{- $env = append $env (dict "name" "BUZZWATCH_BRANDS_FILE" "value" (printf "%s/brands.yaml" (include "buzzwatch.brandsDir" .)) "from" "brands") }}
{{- end }}
{{- with .Values.app.grafanaUrlTemplate }}
{{- $env = append $env (dict "name" "BUZZWATCH_GRAFANA_URL_TEMPLATE" "value" . "from" "app.grafanaUrlTemplate") }}
{{- end }}
{{- with .Values.app.runbookUrl }}
{{- $env = append $env (dict "name" "BUZZWATCH_RUNBOOK_URL" "value" . "from" "app.runbookUrl") }}
{{- end }}
{{- with .Values.slack.defaultChannel }}
{{- $env = append $env (dict "name" "SLACK_DEFAULT_CHANNEL" "value" . "from" "slack.defaultChannel") }}
{{- end }}
{{- with .Values.slack.digestChannel }}
{{- $env = append $env (dict "name" "SLACK_DIGEST_CHANNEL" "value" . "from" "slack.digestChannel") }}
{{- end }}
{{- if .Values.slack.existingSecret }}
{{- range $file := list (list "SLACK_BOT_TOKEN_FILE" "botTokenKey" "bot-token") (list "SLACK_SIGNING_SECRET_FILE" "signingSecretKey" "signing-secret") (list "SLACK_WEBHOOK_URL_FILE" "webhookUrlKey" "webhook-url") }}
{{- if index $.Values.slack (index $file 1) }}
{{- $env = append $env (dict "name" (index $file 0) "value" (printf "%s/%s" (include "buzzwatch.slackSecretDir" $) (index $file 2)) "from" (printf "slack.existingSecret, key slack.%s" (index $file 1))) }}
{{- end }}
{{- end }}
{{- end }}
{{- range $env }}
{{- $_ := set . "value" (toString .value) }}
{{- end }}
{{- toYaml (dict "env" $env) }}
{{- end }}

{{/*
Checks the values schema cannot express (it compares no two values). Fails the render with a
message naming the values to change.
*/}}
{{- define "buzzwatch.validate" -}}
{{- $partitions := int .Values.kafka.topics.partitions }}
{{- if and (not .Values.autoscaling.enabled) (not .Values.keda.enabled) (gt (int .Values.replicaCount) $partitions) }}
{{- fail (printf "replicaCount (%d) must not exceed kafka.topics.partitions (%d): workers beyond the partition count sit idle and never become ready" (int .Values.replicaCount) $partitions) }}
{{- end }}
{{- if and .Values.autoscaling.enabled .Values.keda.enabled }}
{{- fail "autoscaling.enabled and keda.enabled are both true: choose one (KEDA creates its own HorizontalPodAutoscaler)" }}
{{- end }}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.maxReplicas) $partitions) }}
{{- fail (printf "autoscaling.maxReplicas (%d) must not exceed kafka.topics.partitions (%d)" (int .Values.autoscaling.maxReplicas) $partitions) }}
{{- end }}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- fail "autoscaling.minReplicas must not exceed autoscaling.maxReplicas" }}
{{- end }}
{{- if and .Values.keda.enabled (gt (int .Values.keda.maxReplicaCount) $partitions) }}
{{- fail (printf "keda.maxReplicaCount (%d) must not exceed kafka.topics.partitions (%d)" (int .Values.keda.maxReplicaCount) $partitions) }}
{{- end }}
{{- if and .Values.keda.enabled (gt (int .Values.keda.minReplicaCount) (int .Values.keda.maxReplicaCount)) }}
{{- fail "keda.minReplicaCount must not exceed keda.maxReplicaCount" }}
{{- end }}
{{- $seen := dict }}
{{- range $role := list "mentions" "scored" "dlq" "alerts" "digest" "feedback" }}
{{- $topic := index $.Values.kafka.topics $role }}
{{- if hasKey $seen $topic }}
{{- fail (printf "kafka.topics.%s and kafka.topics.%s are both %q: each role needs its own topic" (get $seen $topic) $role $topic) }}
{{- end }}
{{- $_ := set $seen $topic $role }}
{{- end }}
{{- if and (include "buzzwatch.kafkaSasl" .) (not .Values.kafka.sasl.existingSecret) }}
{{- fail (printf "kafka.securityProtocol=%s needs kafka.sasl.existingSecret (a Secret holding the SASL password under kafka.sasl.passwordKey)" .Values.kafka.securityProtocol) }}
{{- end }}
{{- if and (or .Values.kafka.tls.certKey .Values.kafka.tls.keyKey) (not (and .Values.kafka.tls.certKey .Values.kafka.tls.keyKey)) }}
{{- fail "kafka.tls.certKey and kafka.tls.keyKey go together (a client certificate needs its key)" }}
{{- end }}
{{- if and .Values.kafka.tls.certKey (not .Values.kafka.tls.existingSecret) }}
{{- fail "kafka.tls.certKey is set but kafka.tls.existingSecret is empty" }}
{{- end }}
{{- if and .Values.slack.existingSecret (not (or .Values.slack.botTokenKey .Values.slack.webhookUrlKey)) }}
{{- fail "slack.existingSecret is set but neither slack.botTokenKey nor slack.webhookUrlKey names a key in it" }}
{{- end }}
{{- if and .Values.slack.existingSecret .Values.slack.botTokenKey .Values.slack.webhookUrlKey }}
{{- fail (printf "slack.botTokenKey (%q) and slack.webhookUrlKey (%q) are both set: choose one - the worker refuses a bot token and a webhook together (SLACK_BOT_TOKEN_FILE and SLACK_WEBHOOK_URL_FILE); for the webhook, set slack.botTokenKey=\"\"" .Values.slack.botTokenKey .Values.slack.webhookUrlKey) }}
{{- end }}
{{- /* A secret given both as VAR and VAR_FILE stops the worker at start-up: refused here first. The chart
     gives secrets only as files (VAR_FILE, from a Secret); app.extraEnv can add either name. */}}
{{- $chartFiles := dict }}
{{- if include "buzzwatch.kafkaSasl" . }}
{{- $_ := set $chartFiles "KAFKA_SASL_PASSWORD" "kafka.sasl.existingSecret, key kafka.sasl.passwordKey" }}
{{- end }}
{{- if .Values.slack.existingSecret }}
{{- range $secret, $key := dict "SLACK_BOT_TOKEN" "botTokenKey" "SLACK_SIGNING_SECRET" "signingSecretKey" "SLACK_WEBHOOK_URL" "webhookUrlKey" }}
{{- if index $.Values.slack $key }}
{{- $_ := set $chartFiles $secret (printf "slack.existingSecret, key slack.%s" $key) }}
{{- end }}
{{- end }}
{{- end }}
{{- $extraEnv := .Values.app.extraEnv | default dict }}
{{- range $secret := list "KAFKA_SASL_PASSWORD" "SLACK_BOT_TOKEN" "SLACK_SIGNING_SECRET" "SLACK_WEBHOOK_URL" }}
{{- $file := "" }}
{{- $hint := "" }}
{{- if hasKey $chartFiles $secret }}
{{- $file = printf "%s_FILE (from %s)" $secret (get $chartFiles $secret) }}
{{- $hint = printf " (to keep the Secret's, remove app.extraEnv.%s)" $secret }}
{{- else if hasKey $extraEnv (printf "%s_FILE" $secret) }}
{{- $file = printf "app.extraEnv.%s_FILE" $secret }}
{{- end }}
{{- if and $file (hasKey $extraEnv $secret) }}
{{- fail (printf "app.extraEnv.%s and %s both give %s: the worker refuses a secret given both ways; give it once%s" $secret $file $secret $hint) }}
{{- end }}
{{- end }}
{{- /* A variable the chart sets, named again in app.extraEnv, reached the container twice (one value
     silently won): refused, naming the values the chart's comes from. */}}
{{- range (include "buzzwatch.chartEnv" . | fromYaml).env }}
{{- if hasKey $extraEnv .name }}
{{- fail (printf "app.extraEnv.%s and the chart (from %s) both give %s: the container would get it twice, and one would silently win; give it once (to keep the chart's, remove app.extraEnv.%s)" .name .from .name .name) }}
{{- end }}
{{- end }}
{{- /* The worker refuses a bot token and a webhook together (both from the Secret: refused above);
     app.extraEnv can give one beside the Secret's other, or both. Empty values give nothing, as to the worker. */}}
{{- $slack := dict }}
{{- range $secret := list "SLACK_BOT_TOKEN" "SLACK_WEBHOOK_URL" }}
{{- range $name := list $secret (printf "%s_FILE" $secret) }}
{{- if and (not (hasKey $slack $secret)) (get $extraEnv $name) }}
{{- $_ := set $slack $secret (printf "app.extraEnv.%s" $name) }}
{{- end }}
{{- end }}
{{- if and (not (hasKey $slack $secret)) (hasKey $chartFiles $secret) }}
{{- $_ := set $slack $secret (printf "%s_FILE (from %s)" $secret (get $chartFiles $secret)) }}
{{- end }}
{{- end }}
{{- if and (hasKey $slack "SLACK_BOT_TOKEN") (hasKey $slack "SLACK_WEBHOOK_URL") }}
{{- fail (printf "%s and %s give a bot token and a webhook: the worker refuses them together; choose one (the bot token posts one thread per incident, updated in place, with buttons and charts; the webhook one message per step)" (get $slack "SLACK_BOT_TOKEN") (get $slack "SLACK_WEBHOOK_URL")) }}
{{- end }}
{{- end }}
