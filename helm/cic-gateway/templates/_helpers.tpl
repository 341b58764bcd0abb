{{/* Chart name, truncated to the 63 characters a label allows. */}}
{{- define "cic-gateway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name; the release name alone when it already contains the chart name. */}}
{{- define "cic-gateway.fullname" -}}
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

{{- define "cic-gateway.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "cic-gateway.labels" -}}
helm.sh/chart: {{ include "cic-gateway.chart" . }}
{{ include "cic-gateway.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: cic-gateway
{{- end }}

{{- define "cic-gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cic-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "cic-gateway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "cic-gateway.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret the pods mount: the existing one, or the chart's. */}}
{{- define "cic-gateway.secretName" -}}
{{- if .Values.existingSecret }}
{{- .Values.existingSecret }}
{{- else }}
{{- include "cic-gateway.fullname" . }}
{{- end }}
{{- end }}

{{- define "cic-gateway.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* preStop sleep + SHUTDOWN_DELAY_SECONDS + SHUTDOWN_TIMEOUT_SECONDS: what the grace period must cover. */}}
{{- define "cic-gateway.shutdownSeconds" -}}
{{- add (int .Values.shutdown.preStopSleepSeconds) (int .Values.shutdown.delaySeconds) (int .Values.shutdown.timeoutSeconds) }}
{{- end }}

{{- define "cic-gateway.terminationGracePeriodSeconds" -}}
{{- $needed := int (include "cic-gateway.shutdownSeconds" .) }}
{{- if kindIs "invalid" .Values.shutdown.terminationGracePeriodSeconds }}
{{- add $needed 10 }}
{{- else }}
{{- $set := int .Values.shutdown.terminationGracePeriodSeconds }}
{{- if lt $set $needed }}
{{- fail (printf "shutdown.terminationGracePeriodSeconds (%d) must be at least shutdown.preStopSleepSeconds + delaySeconds + timeoutSeconds (%d), or in-flight uploads are killed" $set $needed) }}
{{- end }}
{{- $set }}
{{- end }}
{{- end }}

{{/* Whether the pods get a file for each credential. */}}
{{- define "cic-gateway.hasCicPassword" -}}
{{- if and .Values.secretKeys.cicPassword (or .Values.existingSecret .Values.cic.password) }}true{{ end }}
{{- end }}
{{- define "cic-gateway.hasApiKeys" -}}
{{- if and .Values.auth.enabled .Values.secretKeys.apiKeys (or .Values.existingSecret .Values.auth.apiKeys) }}true{{ end }}
{{- end }}
{{- define "cic-gateway.rendersSecret" -}}
{{- if and (not .Values.existingSecret) (or .Values.cic.password .Values.auth.apiKeys .Values.extraSecrets) }}true{{ end }}
{{- end }}
{{- define "cic-gateway.mountsSecret" -}}
{{- if or .Values.existingSecret (include "cic-gateway.rendersSecret" .) }}true{{ end }}
{{- end }}

{{/* Pods when autoscaling is off: replicaCount, or by default one without redis.url and two with it. */}}
{{- define "cic-gateway.replicas" -}}
{{- if kindIs "invalid" .Values.replicaCount }}
{{- if .Values.redis.url }}2{{ else }}1{{ end }}
{{- else }}
{{- int .Values.replicaCount }}
{{- end }}
{{- end }}

{{/* The port of redis.url (6379 when it names none). */}}
{{- define "cic-gateway.redisPort" -}}
{{- $port := regexFind ":[0-9]+$" (urlParse .Values.redis.url).host | trimPrefix ":" }}
{{- default "6379" $port }}
{{- end }}

{{/* Where the Redis CA is mounted; "" when none is configured. */}}
{{- define "cic-gateway.redisCaFile" -}}
{{- $r := .Values.redis }}
{{- if $r.caBundle }}/etc/cic-gateway/config/redis-ca.pem
{{- else if or $r.caSecret $r.caConfigMap }}/etc/cic-gateway/redis-ca/ca.pem
{{- else if $r.caFile }}{{ $r.caFile }}
{{- end }}
{{- end }}

{{/* Whether the -files ConfigMap (config.yaml, CA bundles) is rendered and mounted. */}}
{{- define "cic-gateway.hasFiles" -}}
{{- if or .Values.config .Values.cic.caBundle .Values.redis.caBundle }}true{{ end }}
{{- end }}

{{/*
Refuses values that would break the delivery guarantee or leak the Redis password:
several pods without a shared store (each would keep its own Idempotency-Key records, so a
resend reaching another pod uploads the document again), a password inside redis.url (it
would land in the ConfigMap), Redis settings without redis.url, a CA without TLS.
*/}}
{{- define "cic-gateway.validateRedis" -}}
{{- $r := .Values.redis }}
{{- if not $r.url }}
{{- if not $r.perReplicaKeysAcknowledged }}
{{- if .Values.autoscaling.enabled }}
{{- fail "autoscaling.enabled=true needs redis.url: without a shared Redis each pod keeps its own Idempotency-Key records, and a resend that reaches another pod uploads the document to CIC again. Set redis.url, or set redis.perReplicaKeysAcknowledged=true to accept per-pod keys." }}
{{- end }}
{{- $replicas := int (include "cic-gateway.replicas" .) }}
{{- if gt $replicas 1 }}
{{- fail (printf "replicaCount=%d needs redis.url: without a shared Redis each pod keeps its own Idempotency-Key records, and a resend that reaches another pod uploads the document to CIC again. Set redis.url, or replicaCount=1, or redis.perReplicaKeysAcknowledged=true to accept per-pod keys." $replicas) }}
{{- end }}
{{- end }}
{{- range $name := list "existingSecret" "caBundle" "caSecret" "caConfigMap" "caFile" }}
{{- if index $r $name }}
{{- fail (printf "redis.%s is set but redis.url is not" $name) }}
{{- end }}
{{- end }}
{{- else }}
{{- $u := urlParse $r.url }}
{{- if contains ":" $u.userinfo }}
{{- fail "redis.url must not carry a password (it would be stored in the ConfigMap): put it in a Secret named by redis.existingSecret (a user name, redis://user@host, is fine)" }}
{{- end }}
{{- $cas := 0 }}
{{- range $name := list "caBundle" "caSecret" "caConfigMap" "caFile" }}
{{- if index $r $name }}{{ $cas = add1 $cas }}{{ end }}
{{- end }}
{{- if gt $cas 1 }}
{{- fail "set only one of redis.caBundle, redis.caSecret, redis.caConfigMap, redis.caFile" }}
{{- end }}
{{- if and (gt $cas 0) (ne $u.scheme "rediss") }}
{{- fail "a Redis CA (redis.caBundle, caSecret, caConfigMap or caFile) needs a rediss:// redis.url (TLS)" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The workload kind: a StatefulSet when each pod owns an outbox volume, else a Deployment. */}}
{{- define "cic-gateway.workloadKind" -}}
{{- if .Values.outbox.enabled }}StatefulSet{{ else }}Deployment{{ end }}
{{- end }}

{{/* A Kubernetes quantity in Ki/Mi/Gi/Ti as bytes; "" for any other form (not checked). */}}
{{- define "cic-gateway.quantityBytes" -}}
{{- $m := regexFind "^[0-9]+(Ki|Mi|Gi|Ti)$" (toString .) }}
{{- if $m }}
{{- $n := int64 (regexFind "^[0-9]+" $m) }}
{{- $unit := dict "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 }}
{{- mul $n (index $unit (regexFind "[KMGT]i$" $m)) }}
{{- end }}
{{- end }}

{{/* The outbox's capacity (OUTBOX_MAX_BYTES) must fit on its volume. */}}
{{- define "cic-gateway.validateOutbox" -}}
{{- if .Values.outbox.enabled }}
{{- $size := include "cic-gateway.quantityBytes" .Values.outbox.size }}
{{- if and $size (gt (int64 .Values.outbox.maxBytes) (int64 $size)) }}
{{- fail (printf "outbox.maxBytes (%d) is larger than the volume, outbox.size (%s): documents would be accepted that the disk cannot keep. Lower outbox.maxBytes (leave some room for the records and the filesystem) or raise outbox.size" (int64 .Values.outbox.maxBytes) .Values.outbox.size) }}
{{- end }}
{{- end }}
{{- end }}

{{/* The label matchers that select this release's series in the alert expressions. */}}
{{- define "cic-gateway.ruleSelector" -}}
{{- if .Values.prometheusRule.selector }}
{{- .Values.prometheusRule.selector }}
{{- else }}
{{- printf "namespace=%q, job=%q" .Release.Namespace (include "cic-gateway.fullname" .) }}
{{- end }}
{{- end }}
