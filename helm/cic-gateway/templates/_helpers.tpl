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
