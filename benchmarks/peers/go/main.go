// A benchmark peer: the Redis operator's standalone contract written the way a kubebuilder user
// writes it on controller-runtime. Not a product: it exists so that benchmarks/bench_peers.py
// can compare the Python operator with it on the same cluster (README.md).
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// The names, labels and scripts of src/redis_operator/children.py, standalone mode.
const (
	containerName      = "redis"
	portName           = "redis"
	managedBy          = "redis-operator"
	settingsAnnotation = "myapp.tangx.in/resources-and-placement"
	authVolume         = "auth"
	authDir            = "/etc/redis-auth"
	authFile           = "password"
	configVolume       = "config"
	configDir          = "/run/redis"
	defaultAuthKey     = "password"
	passwordBytes      = 32

	serverScript = "set -e; read -r password < " + authDir + "/" + authFile + ` || [ -n "$password" ]; umask 077; ` +
		"printf 'port %s\nrequirepass \"%s\"\nmasterauth \"%s\"\n%s\n' " +
		`"$1" "$password" "$password" "$2" ` +
		"> " + configDir + "/redis.conf; exec redis-server " + configDir + "/redis.conf"
	probeScript = "set -e; read -r REDISCLI_AUTH < " + authDir + "/" + authFile + " || " +
		`[ -n "$REDISCLI_AUTH" ]; export REDISCLI_AUTH; [ "$(redis-cli -p "$1" PING)" = PONG ]`
)

func selectorLabels(name string) map[string]string {
	return map[string]string{
		"app.kubernetes.io/instance":   name,
		"app.kubernetes.io/managed-by": managedBy,
		"app.kubernetes.io/name":       "redis",
	}
}

func childLabels(name string) map[string]string {
	labels := selectorLabels(name)
	labels["app"] = name
	return labels
}

func selectorString(name string) string {
	labels := selectorLabels(name)
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + labels[k]
	}
	return strings.Join(parts, ",")
}

func childMeta(redis *Redis, name string) metav1.ObjectMeta {
	yes := true
	return metav1.ObjectMeta{
		Name:      name,
		Namespace: redis.Namespace,
		Labels:    childLabels(redis.Name),
		OwnerReferences: []metav1.OwnerReference{{
			APIVersion: groupVersion.String(), Kind: "Redis", Name: redis.Name, UID: redis.UID,
			Controller: &yes, BlockOwnerDeletion: &yes,
		}},
	}
}

// authSecret is the Secret and key holding the password, or ok=false when auth is disabled.
func authSecret(redis *Redis) (name, key string, ok bool) {
	auth := redis.Spec.Auth
	switch {
	case auth != nil && auth.Disabled:
		return "", "", false
	case auth != nil && auth.SecretRef != nil:
		key = auth.SecretRef.Key
		if key == "" {
			key = defaultAuthKey
		}
		return auth.SecretRef.Name, key, true
	}
	return redis.Name + "-auth", defaultAuthKey, true
}

func generatesPassword(redis *Redis) bool {
	return redis.Spec.Auth == nil || (!redis.Spec.Auth.Disabled && redis.Spec.Auth.SecretRef == nil)
}

func quantities(amounts Quantities) corev1.ResourceList {
	if len(amounts) == 0 {
		return nil
	}
	list := corev1.ResourceList{}
	for name, amount := range amounts {
		list[corev1.ResourceName(name)] = resourceQuantity(amount)
	}
	return list
}

// podSettings is children.pod_settings: the spec's resources, nodeSelector and tolerations as
// one canonical JSON text (sorted keys, as written).
func podSettings(spec *RedisSpec) string {
	resources := map[string]Quantities{}
	if spec.Resources != nil {
		if len(spec.Resources.Requests) > 0 {
			resources["requests"] = spec.Resources.Requests
		}
		if len(spec.Resources.Limits) > 0 {
			resources["limits"] = spec.Resources.Limits
		}
	}
	selector := spec.NodeSelector
	if selector == nil {
		selector = map[string]string{}
	}
	tolerations := []any{}
	for _, t := range spec.Tolerations {
		raw, _ := json.Marshal(t)
		var generic any
		_ = json.Unmarshal(raw, &generic)
		tolerations = append(tolerations, generic)
	}
	text, _ := json.Marshal(map[string]any{
		"resources": resources, "nodeSelector": selector, "tolerations": tolerations,
	})
	return string(text)
}

func desiredPod(redis *Redis, ordinal int) *corev1.Pod {
	name := fmt.Sprintf("%s-%d", redis.Name, ordinal)
	port := strconv.Itoa(int(redis.Spec.Port))
	container := corev1.Container{
		Name:  containerName,
		Image: redis.Spec.Image,
		Ports: []corev1.ContainerPort{{Name: portName, ContainerPort: redis.Spec.Port, Protocol: corev1.ProtocolTCP}},
	}
	if redis.Spec.Resources != nil {
		container.Resources = corev1.ResourceRequirements{
			Requests: quantities(redis.Spec.Resources.Requests),
			Limits:   quantities(redis.Spec.Resources.Limits),
		}
	}
	pod := &corev1.Pod{
		ObjectMeta: childMeta(redis, name),
		Spec: corev1.PodSpec{
			Hostname:     name,
			Subdomain:    redis.Name,
			NodeSelector: redis.Spec.NodeSelector,
			Tolerations:  redis.Spec.Tolerations,
		},
	}
	pod.Annotations = map[string]string{settingsAnnotation: podSettings(&redis.Spec)}
	if secret, key, ok := authSecret(redis); ok {
		container.Command = []string{"sh", "-c", serverScript, "redis-server", port}
		container.ReadinessProbe = &corev1.Probe{
			ProbeHandler:   corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", probeScript, "probe", port}}},
			PeriodSeconds:  5,
			TimeoutSeconds: 2,
		}
		container.VolumeMounts = []corev1.VolumeMount{
			{Name: authVolume, MountPath: authDir, ReadOnly: true},
			{Name: configVolume, MountPath: configDir},
		}
		mode := int32(0o400)
		size := resourceQuantity(intstr.FromString("1Mi"))
		pod.Spec.Volumes = []corev1.Volume{
			{Name: authVolume, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
				SecretName: secret, Items: []corev1.KeyToPath{{Key: key, Path: authFile}}, DefaultMode: &mode,
			}}},
			{Name: configVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
				Medium: corev1.StorageMediumMemory, SizeLimit: &size,
			}}},
		}
	} else {
		container.Command = []string{"redis-server", "--port", port, "--protected-mode", "no"}
		container.ReadinessProbe = &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString(portName)}},
			PeriodSeconds: 5,
		}
	}
	pod.Spec.Containers = []corev1.Container{container}
	return pod
}

func desiredService(redis *Redis) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: childMeta(redis, redis.Name),
		Spec: corev1.ServiceSpec{
			ClusterIP: corev1.ClusterIPNone,
			Selector:  selectorLabels(redis.Name),
			Ports: []corev1.ServicePort{{
				Name: portName, Port: redis.Spec.Port, TargetPort: intstr.FromString(portName), Protocol: corev1.ProtocolTCP,
			}},
		},
	}
}

func generatedSecret(redis *Redis) (*corev1.Secret, error) {
	random := make([]byte, passwordBytes)
	if _, err := rand.Read(random); err != nil {
		return nil, err
	}
	name, key, _ := authSecret(redis)
	return &corev1.Secret{
		ObjectMeta: childMeta(redis, name),
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{key: []byte(base64.RawURLEncoding.EncodeToString(random))},
	}, nil
}

func isReady(pod *corev1.Pod) bool {
	if pod.DeletionTimestamp != nil {
		return false
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// RedisReconciler reconciles a Redis: its Secret, Service and pods, then its status.
type RedisReconciler struct {
	client.Client
	Recorder record.EventRecorder
}

func (r *RedisReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var redis Redis
	if err := r.Get(ctx, req.NamespacedName, &redis); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !redis.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // the garbage collector deletes the children
	}
	if redis.Status.ObservedGeneration != redis.Generation {
		args := []any{redis.Name, redis.Spec.Replicas}
		if redis.Spec.Replicas > redis.Status.TargetReplicas {
			r.Recorder.Eventf(&redis, corev1.EventTypeNormal, "ScalingUp", "%s replicas set to %d", args...)
		} else if redis.Spec.Replicas < redis.Status.TargetReplicas {
			r.Recorder.Eventf(&redis, corev1.EventTypeWarning, "ScalingDown", "%s replicas set to %d", args...)
		}
	}

	if generatesPassword(&redis) {
		name, _, _ := authSecret(&redis)
		var secret corev1.Secret
		err := r.Get(ctx, client.ObjectKey{Namespace: redis.Namespace, Name: name}, &secret)
		if apierrors.IsNotFound(err) {
			body, err := generatedSecret(&redis)
			if err != nil {
				return ctrl.Result{}, err
			}
			if err := r.Create(ctx, body); err != nil {
				r.Recorder.Eventf(&redis, corev1.EventTypeWarning, "FailedCreate", "Error creating secret %s: %v", name, err)
				return ctrl.Result{}, err
			}
			r.Recorder.Eventf(&redis, corev1.EventTypeNormal, "SuccessfulCreate", "Created secret: %s", name)
		} else if err != nil {
			return ctrl.Result{}, err
		}
	}

	var service corev1.Service
	err := r.Get(ctx, client.ObjectKey{Namespace: redis.Namespace, Name: redis.Name}, &service)
	servicePending := err != nil
	if apierrors.IsNotFound(err) {
		if err := r.Create(ctx, desiredService(&redis)); err != nil {
			r.Recorder.Eventf(&redis, corev1.EventTypeWarning, "FailedCreate", "Error creating service %s: %v", redis.Name, err)
			return ctrl.Result{}, err
		}
		r.Recorder.Eventf(&redis, corev1.EventTypeNormal, "SuccessfulCreate", "Created service: %s", redis.Name)
	} else if err != nil {
		return ctrl.Result{}, err
	}

	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.InNamespace(redis.Namespace), client.MatchingLabels(selectorLabels(redis.Name))); err != nil {
		return ctrl.Result{}, err
	}
	byOrdinal := map[int]*corev1.Pod{}
	var live, ready int32
	for i := range pods.Items {
		pod := &pods.Items[i]
		if !metav1.IsControlledBy(pod, &redis) {
			continue
		}
		suffix := strings.TrimPrefix(pod.Name, redis.Name+"-")
		ordinal, err := strconv.Atoi(suffix)
		if err != nil || strconv.Itoa(ordinal) != suffix {
			continue
		}
		byOrdinal[ordinal] = pod
		if pod.DeletionTimestamp == nil && pod.Status.Phase != corev1.PodFailed && pod.Status.Phase != corev1.PodSucceeded {
			live++
			if isReady(pod) {
				ready++
			}
		}
	}
	desired := int(redis.Spec.Replicas)
	var excess []int
	for ordinal, pod := range byOrdinal {
		if ordinal >= desired && pod.DeletionTimestamp == nil {
			excess = append(excess, ordinal)
		}
	}
	sort.Sort(sort.Reverse(sort.IntSlice(excess)))
	for _, ordinal := range excess {
		pod := byOrdinal[ordinal]
		if err := r.Delete(ctx, pod, client.Preconditions{UID: &pod.UID}); client.IgnoreNotFound(err) != nil {
			r.Recorder.Eventf(&redis, corev1.EventTypeWarning, "FailedDelete", "Error deleting pod %s: %v", pod.Name, err)
			return ctrl.Result{}, err
		}
		r.Recorder.Eventf(&redis, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %s", pod.Name)
	}
	active := 0
	for ordinal := 0; ordinal < desired; ordinal++ {
		if _, ok := byOrdinal[ordinal]; ok {
			active++
			continue
		}
		pod := desiredPod(&redis, ordinal)
		if err := r.Create(ctx, pod); err != nil {
			if apierrors.IsAlreadyExists(err) {
				return ctrl.Result{Requeue: true}, nil // the cache lags
			}
			r.Recorder.Eventf(&redis, corev1.EventTypeWarning, "FailedCreate", "Error creating pod %s: %v", pod.Name, err)
			return ctrl.Result{}, err
		}
		r.Recorder.Eventf(&redis, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %s", pod.Name)
	}

	reason := "AllReplicasReady"
	switch {
	case active < desired:
		reason = "ScalingUp"
	case len(excess) > 0:
		reason = "ScalingDown"
	case servicePending:
		reason = "Progressing"
	case int(ready) < desired:
		reason = "PodsNotReady"
	}
	status := redis.Status.DeepCopy()
	status.Replicas = live
	status.ReadyReplicas = ready
	status.Selector = selectorString(redis.Name)
	status.ObservedGeneration = redis.Generation
	status.TargetReplicas = redis.Spec.Replicas
	condition := metav1.ConditionFalse
	if reason == "AllReplicasReady" {
		condition = metav1.ConditionTrue
	}
	meta.SetStatusCondition(&status.Conditions, metav1.Condition{
		Type: "Ready", Status: condition, ObservedGeneration: redis.Generation, Reason: reason,
		Message: fmt.Sprintf("%d/%d replicas ready", ready, desired),
	})
	if equality.Semantic.DeepEqual(*status, redis.Status) {
		return ctrl.Result{}, nil // status only on change: a steady state writes nothing
	}
	redis.Status = *status
	if err := r.Status().Update(ctx, &redis); err != nil {
		if apierrors.IsConflict(err) {
			return ctrl.Result{Requeue: true}, nil
		}
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, nil
}

func main() {
	var namespace, metricsAddress, probeAddress string
	var workers int
	flag.StringVar(&namespace, "namespace", "", "the one namespace to watch (default: all)")
	flag.StringVar(&metricsAddress, "metrics-bind-address", "127.0.0.1:8080", "where /metrics listens")
	flag.StringVar(&probeAddress, "health-probe-bind-address", "127.0.0.1:8081", "where /healthz and /readyz listen")
	flag.IntVar(&workers, "workers", 16, "concurrent reconciles (the Python operator's --workers default)")
	opts := zap.Options{}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	log := ctrl.Log.WithName("setup")

	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		panic(err)
	}
	if err := schemeBuilder.AddToScheme(scheme); err != nil {
		panic(err)
	}
	options := ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: metricsAddress},
		HealthProbeBindAddress: probeAddress,
	}
	if namespace != "" {
		options.Cache = cache.Options{DefaultNamespaces: map[string]cache.Config{namespace: {}}}
	}
	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), options)
	if err != nil {
		log.Error(err, "unable to create the manager")
		os.Exit(1)
	}
	reconciler := &RedisReconciler{
		Client:   mgr.GetClient(),
		Recorder: mgr.GetEventRecorderFor("RedisOperator"), //nolint:staticcheck // the tutorial's API
	}
	err = ctrl.NewControllerManagedBy(mgr).
		For(&Redis{}).
		Owns(&corev1.Pod{}).
		Owns(&corev1.Service{}).
		Owns(&corev1.Secret{}).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).
		Complete(reconciler)
	if err != nil {
		log.Error(err, "unable to create the controller")
		os.Exit(1)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		panic(err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		panic(err)
	}
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Error(err, "the manager stopped")
		os.Exit(1)
	}
}
