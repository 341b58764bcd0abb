{{/* The pod template of the Deployment (deployment.yaml) and, with outbox.enabled, of the StatefulSet (statefulset.yaml). */}}
{{- define "cic-gateway.podTemplate" }}
  template:
    metadata:
      annotations:
        # A changed Secret or ConfigMap changes these, which rolls the pods.
        checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
        checksum/secret: {{ printf "%s|%s" (include (print $.Template.BasePath "/secret.yaml") .) .Values.existingSecret | sha256sum }}
        {{- with .Values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      labels:
        {{- include "cic-gateway.selectorLabels" . | nindent 8 }}
        {{- with .Values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      {{- with .Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      serviceAccountName: {{ include "cic-gateway.serviceAccountName" . }}
      automountServiceAccountToken: {{ .Values.serviceAccount.automountServiceAccountToken }}
      enableServiceLinks: false
      {{- with .Values.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      securityContext:
        {{- toYaml .Values.podSecurityContext | nindent 8 }}
      # Covers preStop sleep + SHUTDOWN_DELAY_SECONDS + SHUTDOWN_TIMEOUT_SECONDS (see values.yaml).
      terminationGracePeriodSeconds: {{ include "cic-gateway.terminationGracePeriodSeconds" . }}
      containers:
        - name: gateway
          image: {{ include "cic-gateway.image" . | quote }}
          imagePullPolicy: {{ .Values.image.pullPolicy }}
          securityContext:
            {{- toYaml .Values.securityContext | nindent 12 }}
          ports:
            - name: http
              containerPort: {{ .Values.gateway.port }}
              protocol: TCP
            {{- if not (kindIs "invalid" .Values.metrics.port) }}
            - name: metrics
              containerPort: {{ .Values.metrics.port }}
              protocol: TCP
            {{- end }}
          envFrom:
            - configMapRef:
                name: {{ include "cic-gateway.fullname" . }}
          {{- with .Values.extraEnv }}
          env:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          livenessProbe:
            {{- toYaml .Values.livenessProbe | nindent 12 }}
          readinessProbe:
            {{- toYaml .Values.readinessProbe | nindent 12 }}
          {{- with .Values.startupProbe }}
          startupProbe:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- if gt (int .Values.shutdown.preStopSleepSeconds) 0 }}
          lifecycle:
            # Endpoints and load balancers stop sending new requests while the pod sleeps;
            # SIGTERM comes after it.
            preStop:
              {{- if semverCompare ">=1.30-0" .Capabilities.KubeVersion.Version }}
              sleep:
                seconds: {{ int .Values.shutdown.preStopSleepSeconds }}
              {{- else }}
              exec:
                command: ["sleep", "{{ int .Values.shutdown.preStopSleepSeconds }}"]
              {{- end }}
          {{- end }}
          resources:
            {{- toYaml .Values.resources | nindent 12 }}
          volumeMounts:
            # Writable: the spool (SPOOL_DIR=/tmp/cic-gateway) and, with outbox.enabled, the
            # pod's own persistent volume (OUTBOX_DIR); the root filesystem stays read-only.
            - name: tmp
              mountPath: /tmp
            {{- if .Values.outbox.enabled }}
            - name: outbox
              mountPath: {{ .Values.outbox.mountPath }}
            {{- end }}
            {{- if include "cic-gateway.mountsSecret" . }}
            - name: secrets
              mountPath: /etc/cic-gateway/secrets
              readOnly: true
            {{- end }}
            {{- if include "cic-gateway.hasFiles" . }}
            - name: config
              mountPath: /etc/cic-gateway/config
              readOnly: true
            {{- end }}
            {{- if and .Values.redis.url .Values.redis.existingSecret }}
            # The Redis password as a file (REDIS_PASSWORD_FILE), never an environment value.
            - name: redis-password
              mountPath: /etc/cic-gateway/redis
              readOnly: true
            {{- end }}
            {{- if and .Values.redis.url (or .Values.redis.caSecret .Values.redis.caConfigMap) }}
            - name: redis-ca
              mountPath: /etc/cic-gateway/redis-ca
              readOnly: true
            {{- end }}
            {{- with .Values.extraVolumeMounts }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
      volumes:
        - name: tmp
          emptyDir:
            {{- with .Values.spool.medium }}
            medium: {{ . }}
            {{- end }}
            sizeLimit: {{ .Values.spool.sizeLimit }}
        {{- if include "cic-gateway.mountsSecret" . }}
        - name: secrets
          secret:
            secretName: {{ include "cic-gateway.secretName" . }}
            # 0440 (written in decimal: YAML 1.1 and 1.2 read a leading 0 differently).
            # Group-readable: files are owned by root, group fsGroup.
            defaultMode: 288
        {{- end }}
        {{- if include "cic-gateway.hasFiles" . }}
        - name: config
          configMap:
            name: {{ include "cic-gateway.fullname" . }}-files
        {{- end }}
        {{- if and .Values.redis.url .Values.redis.existingSecret }}
        - name: redis-password
          secret:
            secretName: {{ .Values.redis.existingSecret }}
            items:
              - key: {{ .Values.redis.existingSecretKey }}
                path: password
            defaultMode: 288
        {{- end }}
        {{- if and .Values.redis.url .Values.redis.caSecret }}
        - name: redis-ca
          secret:
            secretName: {{ .Values.redis.caSecret }}
            items:
              - key: {{ .Values.redis.caKey }}
                path: ca.pem
            defaultMode: 288
        {{- else if and .Values.redis.url .Values.redis.caConfigMap }}
        - name: redis-ca
          configMap:
            name: {{ .Values.redis.caConfigMap }}
            items:
              - key: {{ .Values.redis.caKey }}
                path: ca.pem
        {{- end }}
        {{- with .Values.extraVolumes }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- if kindIs "invalid" .Values.topologySpreadConstraints }}
      topologySpreadConstraints:
        - maxSkew: 1
          topologyKey: kubernetes.io/hostname
          whenUnsatisfiable: ScheduleAnyway
          labelSelector:
            matchLabels:
              {{- include "cic-gateway.selectorLabels" . | nindent 14 }}
      {{- else if .Values.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- toYaml .Values.topologySpreadConstraints | nindent 8 }}
      {{- end }}
      {{- with .Values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end }}
