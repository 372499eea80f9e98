{{/* vim: set filetype=mustache: */}}

{{/* The chart name, truncated to a DNS label. */}}
{{- define "infusion-validator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of the release's objects: <release>-<chart>, or just the release name when it
already contains the chart name. 63 characters at most (DNS label).
*/}}
{{- define "infusion-validator.fullname" -}}
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

{{/* chart label value: <name>-<version>. */}}
{{- define "infusion-validator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels: stable across upgrades (a StatefulSet's selector is immutable). */}}
{{- define "infusion-validator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "infusion-validator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Common labels of every object. */}}
{{- define "infusion-validator.labels" -}}
helm.sh/chart: {{ include "infusion-validator.chart" . }}
{{ include "infusion-validator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: infusion-validator
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The ServiceAccount the pods run as. */}}
{{- define "infusion-validator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "infusion-validator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
An image reference from {registry, repository, tag, digest}: registry/repository:tag@digest.
Usage: include "infusion-validator.imageRef" (dict "image" .Values.image "defaultTag" .Chart.AppVersion)
*/}}
{{- define "infusion-validator.imageRef" -}}
{{- $repo := .image.repository }}
{{- if .image.registry }}
{{- $repo = printf "%s/%s" .image.registry .image.repository }}
{{- end }}
{{- $tag := .image.tag | default .defaultTag | toString }}
{{- if .image.digest }}
{{- printf "%s:%s@%s" $repo $tag .image.digest }}
{{- else }}
{{- printf "%s:%s" $repo $tag }}
{{- end }}
{{- end }}

{{/* The service's image. */}}
{{- define "infusion-validator.image" -}}
{{- include "infusion-validator.imageRef" (dict "image" .Values.image "defaultTag" .Chart.AppVersion) }}
{{- end }}

{{/* Names of the chart's ConfigMaps and of the rule set actually mounted. */}}
{{- define "infusion-validator.configName" -}}
{{- printf "%s-config" (include "infusion-validator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "infusion-validator.rulesName" -}}
{{- if .Values.rules.existingConfigMap }}
{{- .Values.rules.existingConfigMap }}
{{- else }}
{{- printf "%s-rules" (include "infusion-validator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Fixed mount points inside the container. */}}
{{- define "infusion-validator.configDir" -}}/etc/infusion-validator/config{{- end }}
{{- define "infusion-validator.kafkaTlsDir" -}}/etc/infusion-validator/kafka-tls{{- end }}
{{- define "infusion-validator.registryTlsDir" -}}/etc/infusion-validator/schema-registry-tls{{- end }}

{{/* The HTTP port of /metrics, /healthz and /readyz. */}}
{{- define "infusion-validator.httpPort" -}}
{{- $http := .Values.config.http | default dict }}
{{- $http.port | default 8080 | int }}
{{- end }}

{{/* processing.transaction_timeout_ms of the settings, in whole seconds (rounded up). */}}
{{- define "infusion-validator.transactionTimeoutSeconds" -}}
{{- $processing := .Values.config.processing | default dict }}
{{- $ms := $processing.transaction_timeout_ms | default 10000 | int }}
{{- div (add $ms 999) 1000 }}
{{- end }}

{{/*
Seconds between SIGTERM and SIGKILL. On SIGTERM the service finishes its batch, commits the
transaction and leaves the group; the commit may take up to the transaction timeout, so the
grace period is that plus a margin. An explicit value below timeout + 5 s fails the render.
*/}}
{{- define "infusion-validator.terminationGracePeriodSeconds" -}}
{{- $tx := include "infusion-validator.transactionTimeoutSeconds" . | int }}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds }}
{{- add $tx 30 }}
{{- else }}
{{- $grace := .Values.terminationGracePeriodSeconds | int }}
{{- if lt $grace (add $tx 5) }}
{{- fail (printf "terminationGracePeriodSeconds=%d is too short: the service may need the whole transaction timeout (config.processing.transaction_timeout_ms = %ds) to commit its last batch on SIGTERM; use at least %d, or leave it empty for %d" $grace $tx (add $tx 5) (add $tx 30)) }}
{{- end }}
{{- $grace }}
{{- end }}
{{- end }}

{{/*
The settings file: .Values.config plus the keys the chart manages (TLS file locations of the
mounted secrets). Passwords, the rule-set path and the transactional id are environment
variables (see "infusion-validator.env"); env overrides the file.
*/}}
{{- define "infusion-validator.settingsYaml" -}}
{{- $config := deepCopy .Values.config }}
{{- $kafka := $config.kafka | default dict }}
{{- with .Values.kafka.tls }}
{{- if .existingSecret }}
{{- $dir := include "infusion-validator.kafkaTlsDir" $ }}
{{- if .caKey }}
{{- $_ := set $kafka "ssl_ca_location" (printf "%s/%s" $dir .caKey) }}
{{- end }}
{{- if .certKey }}
{{- $_ := set $kafka "ssl_certificate_location" (printf "%s/%s" $dir .certKey) }}
{{- end }}
{{- if .keyKey }}
{{- $_ := set $kafka "ssl_key_location" (printf "%s/%s" $dir .keyKey) }}
{{- end }}
{{- end }}
{{- end }}
{{- $_ := set $config "kafka" $kafka }}
{{- with .Values.schemaRegistry.tls }}
{{- if and .existingSecret .caKey }}
{{- $registry := $config.schema_registry | default dict }}
{{- $_ := set $registry "ssl_ca_location" (printf "%s/%s" (include "infusion-validator.registryTlsDir" $) .caKey) }}
{{- $_ := set $config "schema_registry" $registry }}
{{- end }}
{{- end }}
{{- toYaml $config }}
{{- end }}

{{/*
The rule files as a dict file name -> content: the chart's files/rules/*.yaml (a copy of the
repository's rules/, kept equal by a unit test) unless rules.includeDefaults is false, then
rules.files on top (same name replaces, new name adds).
*/}}
{{- define "infusion-validator.rulesData" -}}
{{- $files := dict }}
{{- if .Values.rules.includeDefaults }}
{{- range $path, $_ := .Files.Glob "files/rules/*.yaml" }}
{{- $_ := set $files (base $path) ($.Files.Get $path) }}
{{- end }}
{{- end }}
{{- range $name, $content := .Values.rules.files }}
{{- $_ := set $files $name $content }}
{{- end }}
{{- if not $files }}
{{- fail "rules: no rule file to ship; keep rules.includeDefaults, give rules.files, or name rules.existingConfigMap" }}
{{- end }}
{{- $hasRuleSet := false }}
{{- range $name, $content := $files }}
{{- if regexMatch "(?m)^policy_id:" $content }}
{{- $hasRuleSet = true }}
{{- end }}
{{- end }}
{{- if not $hasRuleSet }}
{{- fail "rules: none of the rule files has a top-level policy_id; the service would refuse to start" }}
{{- end }}
{{- toYaml $files }}
{{- end }}

{{/*
Checksum of what the pods read at start-up: the settings file and the rule files. It is a
pod-template annotation, so any change to either rolls the pods. (Content of
rules.existingConfigMap and of Secrets is invisible to the chart.)
*/}}
{{- define "infusion-validator.configChecksum" -}}
{{- $rules := "" }}
{{- if not .Values.rules.existingConfigMap }}
{{- $rules = include "infusion-validator.rulesData" . }}
{{- end }}
{{- printf "settings:\n%s\nrules:\n%s" (include "infusion-validator.settingsYaml" .) $rules | sha256sum }}
{{- end }}

{{/* Render-time checks that cut across values; each fails with what to change. */}}
{{- define "infusion-validator.validate" -}}
{{- $partitions := .Values.kafka.inputPartitions | int }}
{{- $hpa := .Values.autoscaling.hpa }}
{{- $keda := .Values.autoscaling.keda }}
{{- if and $hpa.enabled $keda.enabled }}
{{- fail "autoscaling: enable either autoscaling.hpa or autoscaling.keda, not both (KEDA creates its own HPA)" }}
{{- end }}
{{- if $hpa.enabled }}
{{- if gt ($hpa.maxReplicas | int) $partitions }}
{{- fail (printf "autoscaling.hpa.maxReplicas=%d exceeds kafka.inputPartitions=%d: a consumer beyond the partition count gets no partition and stays unready" ($hpa.maxReplicas | int) $partitions) }}
{{- end }}
{{- if gt ($hpa.minReplicas | int) ($hpa.maxReplicas | int) }}
{{- fail (printf "autoscaling.hpa.minReplicas=%d exceeds autoscaling.hpa.maxReplicas=%d" ($hpa.minReplicas | int) ($hpa.maxReplicas | int)) }}
{{- end }}
{{- if and (kindIs "invalid" $hpa.targetCPUUtilizationPercentage) (not $hpa.metrics) }}
{{- fail "autoscaling.hpa: give targetCPUUtilizationPercentage or metrics" }}
{{- end }}
{{- else if $keda.enabled }}
{{- if gt ($keda.maxReplicaCount | int) $partitions }}
{{- fail (printf "autoscaling.keda.maxReplicaCount=%d exceeds kafka.inputPartitions=%d: a consumer beyond the partition count gets no partition and stays unready" ($keda.maxReplicaCount | int) $partitions) }}
{{- end }}
{{- if gt ($keda.minReplicaCount | int) ($keda.maxReplicaCount | int) }}
{{- fail (printf "autoscaling.keda.minReplicaCount=%d exceeds autoscaling.keda.maxReplicaCount=%d" ($keda.minReplicaCount | int) ($keda.maxReplicaCount | int)) }}
{{- end }}
{{- else if gt (.Values.replicaCount | int) $partitions }}
{{- fail (printf "replicaCount=%d exceeds kafka.inputPartitions=%d: a consumer beyond the partition count gets no partition and stays unready" (.Values.replicaCount | int) $partitions) }}
{{- end }}
{{- $kafka := .Values.config.kafka | default dict }}
{{- $protocol := $kafka.security_protocol | default "PLAINTEXT" }}
{{- if hasPrefix "SASL_" $protocol }}
{{- if not $kafka.sasl_mechanism }}
{{- fail (printf "config.kafka.sasl_mechanism is required with security_protocol %s" $protocol) }}
{{- end }}
{{- if and (ne $kafka.sasl_mechanism "OAUTHBEARER") (not .Values.kafka.sasl.existingSecret) }}
{{- fail (printf "kafka.sasl.existingSecret is required with %s/%s: the password comes from an existing Secret, never from values" $protocol $kafka.sasl_mechanism) }}
{{- end }}
{{- if and (ne $kafka.sasl_mechanism "OAUTHBEARER") (not .Values.kafka.sasl.usernameKey) (not $kafka.sasl_username) }}
{{- fail "SASL needs a user name: set config.kafka.sasl_username or kafka.sasl.usernameKey" }}
{{- end }}
{{- else if .Values.kafka.sasl.existingSecret }}
{{- fail (printf "kafka.sasl.existingSecret is set but config.kafka.security_protocol is %s; use SASL_SSL (or SASL_PLAINTEXT)" $protocol) }}
{{- end }}
{{- with .Values.kafka.tls }}
{{- if and .existingSecret (not (has $protocol (list "SSL" "SASL_SSL"))) }}
{{- fail (printf "kafka.tls.existingSecret is set but config.kafka.security_protocol is %s; use SSL or SASL_SSL" $protocol) }}
{{- end }}
{{- if ne (empty .certKey) (empty .keyKey) }}
{{- fail "kafka.tls: give both certKey and keyKey (mutual TLS) or neither" }}
{{- end }}
{{- if and (or .certKey .keyKey .keyPasswordKey) (not .existingSecret) }}
{{- fail "kafka.tls.certKey/keyKey/keyPasswordKey need kafka.tls.existingSecret" }}
{{- end }}
{{- end }}
{{- if and .Values.rules.existingConfigMap .Values.rules.files }}
{{- fail "rules: rules.files is ignored when rules.existingConfigMap is set; use one or the other" }}
{{- end }}
{{- $_ := include "infusion-validator.terminationGracePeriodSeconds" . }}
{{- end }}

{{/* Container security context (also used by the replay Job and the helm test pod). */}}
{{- define "infusion-validator.containerSecurityContext" -}}
{{- toYaml .Values.securityContext }}
{{- end }}

{{/*
Environment of the service and the replay Job. Secrets only as secretKeyRef from existing
Secrets. Usage: include "infusion-validator.env" (dict "root" $ "txPrefix" "<prefix>")
*/}}
{{- define "infusion-validator.env" -}}
{{- $root := .root }}
{{- $values := $root.Values -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: INFUSION_VALIDATOR_CONFIG
  value: {{ printf "%s/settings.yaml" (include "infusion-validator.configDir" $root) | quote }}
- name: INFUSION_VALIDATOR_RULES
  value: {{ $values.rules.mountPath | quote }}
# Stable per pod (StatefulSet ordinal) and unique across pods: a restarted pod fences its
# predecessor and aborts its open transaction at once.
- name: INFUSION_VALIDATOR_PROCESSING__TRANSACTIONAL_ID
  value: {{ printf "%s-$(POD_NAME)" .txPrefix | quote }}
{{- with $values.kafka.sasl }}
{{- if .existingSecret }}
- name: INFUSION_VALIDATOR_KAFKA__SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret | quote }}
      key: {{ .passwordKey | quote }}
{{- if .usernameKey }}
- name: INFUSION_VALIDATOR_KAFKA__SASL_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret | quote }}
      key: {{ .usernameKey | quote }}
{{- else if and $values.autoscaling.keda.enabled (($values.config.kafka | default dict).sasl_username) }}
# The same as config.kafka.sasl_username; here for KEDA's TriggerAuthentication to read.
- name: INFUSION_VALIDATOR_KAFKA__SASL_USERNAME
  value: {{ $values.config.kafka.sasl_username | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- with $values.kafka.tls }}
{{- if and .existingSecret .keyPasswordKey }}
- name: INFUSION_VALIDATOR_KAFKA__SSL_KEY_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret | quote }}
      key: {{ .keyPasswordKey | quote }}
{{- end }}
{{- end }}
{{- with $values.schemaRegistry.basicAuth }}
{{- if .existingSecret }}
- name: INFUSION_VALIDATOR_SCHEMA_REGISTRY__BASIC_AUTH_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret | quote }}
      key: {{ .passwordKey | quote }}
{{- if .usernameKey }}
- name: INFUSION_VALIDATOR_SCHEMA_REGISTRY__BASIC_AUTH_USER
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret | quote }}
      key: {{ .usernameKey | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- with $values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Volume mounts of the service and the replay Job (all read-only but /tmp). */}}
{{- define "infusion-validator.volumeMounts" -}}
- name: config
  mountPath: {{ include "infusion-validator.configDir" . }}
  readOnly: true
- name: rules
  mountPath: {{ .Values.rules.mountPath }}
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- if .Values.kafka.tls.existingSecret }}
- name: kafka-tls
  mountPath: {{ include "infusion-validator.kafkaTlsDir" . }}
  readOnly: true
{{- end }}
{{- if .Values.schemaRegistry.tls.existingSecret }}
- name: schema-registry-tls
  mountPath: {{ include "infusion-validator.registryTlsDir" . }}
  readOnly: true
{{- end }}
{{- with .Values.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Volumes of the service and the replay Job. */}}
{{- define "infusion-validator.volumes" -}}
- name: config
  configMap:
    name: {{ include "infusion-validator.configName" . }}
- name: rules
  configMap:
    name: {{ include "infusion-validator.rulesName" . }}
- name: tmp
  {{- with .Values.tmpSizeLimit }}
  emptyDir:
    sizeLimit: {{ . }}
  {{- else }}
  emptyDir: {}
  {{- end }}
{{- with .Values.kafka.tls }}
{{- if .existingSecret }}
- name: kafka-tls
  secret:
    secretName: {{ .existingSecret }}
    # Group-readable only: fsGroup makes the files owned by the pod's group.
    defaultMode: 0440
{{- end }}
{{- end }}
{{- with .Values.schemaRegistry.tls }}
{{- if .existingSecret }}
- name: schema-registry-tls
  secret:
    secretName: {{ .existingSecret }}
    defaultMode: 0440
{{- end }}
{{- end }}
{{- with .Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Prefix of the transactional ids (see values: transactionalIdPrefix). */}}
{{- define "infusion-validator.txPrefix" -}}
{{- .Values.transactionalIdPrefix | default .Release.Name }}
{{- end }}
