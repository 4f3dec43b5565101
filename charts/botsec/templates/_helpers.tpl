{{/* The release's name for every object, at most 52 characters (room for suffixes). */}}
{{- define "botsec.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "botsec.labels" -}}
app.kubernetes.io/name: botsec
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "botsec.selector" -}}
app.kubernetes.io/name: botsec
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "botsec.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "botsec.operatorServiceAccount" -}}{{ include "botsec.fullname" . }}-operator{{- end -}}
{{- define "botsec.webhookServiceAccount" -}}{{ include "botsec.fullname" . }}-webhook{{- end -}}
{{- define "botsec.webhookService" -}}{{ include "botsec.fullname" . }}-webhook{{- end -}}

{{/* The operator's identity as the API server authenticates it. */}}
{{- define "botsec.operatorUsername" -}}
{{- printf "system:serviceaccount:%s:%s" .Release.Namespace (include "botsec.operatorServiceAccount" .) -}}
{{- end -}}

{{/* The flags both binaries take to agree on how a sandbox renders (api::AddSandboxSettingsFlags). */}}
{{- define "botsec.sandboxArgs" -}}
- --policy=/etc/botsec/policy.yaml
- --namespace-prefix={{ .Values.sandboxes.namespacePrefix }}
- --default-requests={{ include "botsec.resourceList" .Values.sandboxes.defaultRequests }}
- --default-limits={{ include "botsec.resourceList" .Values.sandboxes.defaultLimits }}
- --pod-security-version={{ .Values.sandboxes.podSecurityVersion }}
{{- end -}}

{{- define "botsec.resourceList" -}}
{{- $entries := list -}}
{{- range $name, $value := . -}}
{{- $entries = append $entries (printf "%s=%s" $name (toString $value)) -}}
{{- end -}}
{{- join "," $entries -}}
{{- end -}}

{{/* The pod and container hardening every BotSec pod runs with. */}}
{{- define "botsec.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "botsec.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Namespaces no BotSec webhook entry ever intercepts: the system's, and the release's own. */}}
{{- define "botsec.excludedNamespaces" -}}
{{- $names := list "kube-system" "kube-public" "kube-node-lease" .Release.Namespace -}}
{{- toJson (uniq $names) -}}
{{- end -}}
