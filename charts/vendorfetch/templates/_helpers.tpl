{{/* Names, labels and the small decisions every template shares. */}}

{{- define "vendorfetch.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* <release>-vendorfetch, or just <release> when the release name already says vendorfetch. */}}
{{- define "vendorfetch.fullname" -}}
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

{{- define "vendorfetch.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "vendorfetch.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selector labels of one component: include "vendorfetch.selector" (list . "api") */}}
{{- define "vendorfetch.selector" -}}
app.kubernetes.io/name: {{ include "vendorfetch.name" (index . 0) }}
app.kubernetes.io/instance: {{ (index . 0).Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- define "vendorfetch.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "vendorfetch.controllerServiceAccount" -}}
{{- if .Values.controller.serviceAccount.create }}
{{- default (printf "%s-controller" (include "vendorfetch.fullname" .)) .Values.controller.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.controller.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "vendorfetch.apiServiceAccount" -}}
{{- if .Values.api.serviceAccount.create }}
{{- default (printf "%s-api" (include "vendorfetch.fullname" .)) .Values.api.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.api.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "vendorfetch.leaseName" -}}
{{- printf "%s-controller" (include "vendorfetch.fullname" .) }}
{{- end }}

{{/* Secret (name, key) holding each connection URL: yours, else the chart's <fullname>-connections. */}}
{{- define "vendorfetch.connectionsSecret" -}}
{{- printf "%s-connections" (include "vendorfetch.fullname" .) }}
{{- end }}

{{- define "vendorfetch.redisSecretName" -}}
{{- default (include "vendorfetch.connectionsSecret" .) .Values.redis.existingSecret.name }}
{{- end }}
{{- define "vendorfetch.redisSecretKey" -}}
{{- if .Values.redis.existingSecret.name }}{{ .Values.redis.existingSecret.key }}{{ else }}redis-url{{ end }}
{{- end }}
{{- define "vendorfetch.mongodbSecretName" -}}
{{- default (include "vendorfetch.connectionsSecret" .) .Values.mongodb.existingSecret.name }}
{{- end }}
{{- define "vendorfetch.mongodbSecretKey" -}}
{{- if .Values.mongodb.existingSecret.name }}{{ .Values.mongodb.existingSecret.key }}{{ else }}mongodb-url{{ end }}
{{- end }}

{{/* The URLs the chart stores in <fullname>-connections when no existingSecret is named. */}}
{{- define "vendorfetch.redisUrl" -}}
{{- if .Values.dev.redis.enabled }}
{{- printf "redis://%s-redis:6379" (include "vendorfetch.fullname" .) }}
{{- else }}
{{- .Values.redis.url }}
{{- end }}
{{- end }}
{{- define "vendorfetch.mongodbUrl" -}}
{{- if .Values.dev.mongodb.enabled }}
{{- printf "mongodb://%s-mongodb:27017/vendorfetch" (include "vendorfetch.fullname" .) }}
{{- else }}
{{- .Values.mongodb.url }}
{{- end }}
{{- end }}

{{- define "vendorfetch.apiUrl" -}}
{{- printf "http://%s-api.%s.svc:%v" (include "vendorfetch.fullname" .) .Release.Namespace .Values.api.service.port }}
{{- end }}

{{/* Webhook Secrets mounted into the api: the listed ones plus the mocks' (deduplicated). */}}
{{- define "vendorfetch.webhookSecrets" -}}
{{- $names := .Values.api.webhookSecrets }}
{{- if .Values.mocks.enabled }}{{ $names = append $names .Values.mocks.webhookSecret.name }}{{ end }}
{{- toJson (uniq $names) }}
{{- end }}

{{/* VF_WORKER_POD_DEFAULTS: workers.* as JSON; empty pull secrets / log level fall back to
the top-level ones, empty values are left out (the controller then uses its built-in default). */}}
{{- define "vendorfetch.workerPodDefaults" -}}
{{- $w := .Values.workers }}
{{- $out := dict "resources" $w.resources "podDisruptionBudget" $w.podDisruptionBudget "logLevel" (default .Values.logLevel $w.logLevel) }}
{{- with (default .Values.imagePullSecrets $w.imagePullSecrets) }}{{ $_ := set $out "imagePullSecrets" . }}{{ end }}
{{- with $w.nodeSelector }}{{ $_ := set $out "nodeSelector" . }}{{ end }}
{{- with $w.tolerations }}{{ $_ := set $out "tolerations" . }}{{ end }}
{{- with $w.affinity }}{{ $_ := set $out "affinity" . }}{{ end }}
{{- with $w.topologySpreadConstraints }}{{ $_ := set $out "topologySpreadConstraints" . }}{{ end }}
{{- with $w.priorityClassName }}{{ $_ := set $out "priorityClassName" . }}{{ end }}
{{- with $w.extraEnv }}{{ $_ := set $out "extraEnv" . }}{{ end }}
{{- toJson $out }}
{{- end }}

{{/* Volumes every program needs with a read-only root: a writable /tmp. */}}
{{- define "vendorfetch.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- end }}
