// The Redis API type (myapp.tangx.in/v1) as a kubebuilder project declares it; the CRD itself
// is the operator's deploy/crd.yaml, already installed.
package main

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	groupVersion  = schema.GroupVersion{Group: "myapp.tangx.in", Version: "v1"}
	schemeBuilder = &scheme.Builder{GroupVersion: groupVersion}
)

func init() {
	schemeBuilder.Register(&Redis{}, &RedisList{})
}

// Quantities keeps resource amounts as written (an integer or a string).
type Quantities map[string]intstr.IntOrString

type Resources struct {
	Requests Quantities `json:"requests,omitempty"`
	Limits   Quantities `json:"limits,omitempty"`
}

type SecretRef struct {
	Name string `json:"name"`
	Key  string `json:"key,omitempty"`
}

type Auth struct {
	SecretRef *SecretRef `json:"secretRef,omitempty"`
	Disabled  bool       `json:"disabled,omitempty"`
}

type RedisSpec struct {
	Replicas     int32               `json:"replicas"`
	Port         int32               `json:"port"`
	Image        string              `json:"image"`
	Resources    *Resources          `json:"resources,omitempty"`
	NodeSelector map[string]string   `json:"nodeSelector,omitempty"`
	Tolerations  []corev1.Toleration `json:"tolerations,omitempty"`
	Auth         *Auth               `json:"auth,omitempty"`
}

type RedisStatus struct {
	Replicas           int32              `json:"replicas"`
	ReadyReplicas      int32              `json:"readyReplicas"`
	Selector           string             `json:"selector,omitempty"`
	ObservedGeneration int64              `json:"observedGeneration,omitempty"`
	TargetReplicas     int32              `json:"targetReplicas"`
	Conditions         []metav1.Condition `json:"conditions,omitempty"`
}

type Redis struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              RedisSpec   `json:"spec,omitempty"`
	Status            RedisStatus `json:"status,omitempty"`
}

type RedisList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Redis `json:"items"`
}

// What controller-gen would generate (zz_generated.deepcopy.go), written out.

func (q Quantities) deepCopy() Quantities {
	if q == nil {
		return nil
	}
	out := make(Quantities, len(q))
	for k, v := range q {
		out[k] = v
	}
	return out
}

func (in *RedisSpec) DeepCopyInto(out *RedisSpec) {
	*out = *in
	if in.Resources != nil {
		out.Resources = &Resources{Requests: in.Resources.Requests.deepCopy(), Limits: in.Resources.Limits.deepCopy()}
	}
	if in.NodeSelector != nil {
		out.NodeSelector = make(map[string]string, len(in.NodeSelector))
		for k, v := range in.NodeSelector {
			out.NodeSelector[k] = v
		}
	}
	if in.Tolerations != nil {
		out.Tolerations = make([]corev1.Toleration, len(in.Tolerations))
		for i := range in.Tolerations {
			in.Tolerations[i].DeepCopyInto(&out.Tolerations[i])
		}
	}
	if in.Auth != nil {
		auth := *in.Auth
		if in.Auth.SecretRef != nil {
			ref := *in.Auth.SecretRef
			auth.SecretRef = &ref
		}
		out.Auth = &auth
	}
}

func (in *RedisStatus) DeepCopyInto(out *RedisStatus) {
	*out = *in
	if in.Conditions != nil {
		out.Conditions = make([]metav1.Condition, len(in.Conditions))
		for i := range in.Conditions {
			in.Conditions[i].DeepCopyInto(&out.Conditions[i])
		}
	}
}

func (in *Redis) DeepCopyInto(out *Redis) {
	*out = *in
	out.TypeMeta = in.TypeMeta
	in.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	in.Spec.DeepCopyInto(&out.Spec)
	in.Status.DeepCopyInto(&out.Status)
}

func (in *Redis) DeepCopyObject() runtime.Object {
	out := new(Redis)
	in.DeepCopyInto(out)
	return out
}

func (in *RedisList) DeepCopyObject() runtime.Object {
	out := new(RedisList)
	*out = *in
	in.ListMeta.DeepCopyInto(&out.ListMeta)
	if in.Items != nil {
		out.Items = make([]Redis, len(in.Items))
		for i := range in.Items {
			in.Items[i].DeepCopyInto(&out.Items[i])
		}
	}
	return out
}

func resourceQuantity(amount intstr.IntOrString) resource.Quantity {
	if amount.Type == intstr.Int {
		return *resource.NewQuantity(int64(amount.IntVal), resource.DecimalSI)
	}
	return resource.MustParse(amount.StrVal)
}

func (in *RedisStatus) DeepCopy() *RedisStatus {
	out := new(RedisStatus)
	in.DeepCopyInto(out)
	return out
}
