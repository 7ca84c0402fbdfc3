// Package kubernetes_test checks the manifests of this directory offline:
// every YAML file, and the output of every kustomization, is decoded
// strictly into the Kubernetes API types (an unknown or duplicate field is
// an error, as with kubectl apply --validate=strict), and the rendered
// objects are held to the invariants of invariants_test.go. What only a
// live cluster can show is listed in docs/kubernetes.md.
package kubernetes_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	ktypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// serviceMonitor is the part of the Prometheus Operator's ServiceMonitor
// (monitoring.coreos.com/v1) that these manifests use, with the Operator's
// field names. Its Go module would bring the Operator's whole API for one
// kind; a field not declared here fails the strict decoding, so a new one
// has to be added here, checked against the Operator's API reference.
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector          metav1.LabelSelector `json:"selector"`
		NamespaceSelector *struct {
			Any        bool     `json:"any,omitempty"`
			MatchNames []string `json:"matchNames,omitempty"`
		} `json:"namespaceSelector,omitempty"`
		JobLabel  string `json:"jobLabel,omitempty"`
		Endpoints []struct {
			Port          string              `json:"port,omitempty"`
			TargetPort    *intstr.IntOrString `json:"targetPort,omitempty"`
			Path          string              `json:"path,omitempty"`
			Scheme        string              `json:"scheme,omitempty"`
			Interval      string              `json:"interval,omitempty"`
			ScrapeTimeout string              `json:"scrapeTimeout,omitempty"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// kinds maps apiVersion and kind to the type a document decodes into. A
// kind missing here is an error, so that no manifest goes unchecked.
var kinds = map[string]func() any{
	"apps/v1/Deployment":                            func() any { return new(appsv1.Deployment) },
	"v1/Service":                                    func() any { return new(corev1.Service) },
	"v1/ConfigMap":                                  func() any { return new(corev1.ConfigMap) },
	"v1/PersistentVolumeClaim":                      func() any { return new(corev1.PersistentVolumeClaim) },
	"v1/PersistentVolume":                           func() any { return new(corev1.PersistentVolume) },
	"policy/v1/PodDisruptionBudget":                 func() any { return new(policyv1.PodDisruptionBudget) },
	"autoscaling/v2/HorizontalPodAutoscaler":        func() any { return new(autoscalingv2.HorizontalPodAutoscaler) },
	"monitoring.coreos.com/v1/ServiceMonitor":       func() any { return new(serviceMonitor) },
	"kustomize.config.k8s.io/v1beta1/Kustomization": func() any { return new(ktypes.Kustomization) },
	"kustomize.config.k8s.io/v1alpha1/Component":    func() any { return new(ktypes.Kustomization) },
}

// decodeStrict decodes one YAML document into the type of its kind.
// Strictness is sigs.k8s.io/json's, the API server's own: unknown fields,
// duplicate fields and fields whose case differs are errors (encoding/json
// alone would take "Image" for "image").
func decodeStrict(doc []byte) (any, error) {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return nil, err
	}
	var tm metav1.TypeMeta
	if err := json.Unmarshal(j, &tm); err != nil {
		return nil, err
	}
	newObj, ok := kinds[tm.APIVersion+"/"+tm.Kind]
	if !ok {
		return nil, fmt.Errorf("apiVersion %q kind %q: not a kind this check knows", tm.APIVersion, tm.Kind)
	}
	obj := newObj()
	strict, err := kjson.UnmarshalStrict(j, obj, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", tm.Kind, err)
	}
	if len(strict) > 0 {
		return nil, fmt.Errorf("%s: %v", tm.Kind, errors.Join(strict...))
	}
	return obj, nil
}

// documents splits a YAML stream at its "---" lines, leaving out documents
// that hold only comments or nothing.
func documents(data []byte) ([][]byte, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		d, err := r.Read()
		if err == io.EOF {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		var v any
		if err := yaml.Unmarshal(d, &v); err != nil {
			return nil, err
		}
		if v != nil {
			docs = append(docs, d)
		}
	}
}

func decodeAll(data []byte) ([]any, error) {
	docs, err := documents(data)
	if err != nil {
		return nil, err
	}
	objs := make([]any, 0, len(docs))
	for i, d := range docs {
		o, err := decodeStrict(d)
		if err != nil {
			return nil, fmt.Errorf("document %d: %v", i+1, err)
		}
		objs = append(objs, o)
	}
	return objs, nil
}

// yamlFiles are the YAML files under this directory.
func yamlFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no YAML files found")
	}
	return files
}

// TestFilesDecodeStrictly decodes every YAML file as it is checked in:
// resources, patches and kustomizations alike.
func TestFilesDecodeStrictly(t *testing.T) {
	for _, f := range yamlFiles(t) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := decodeAll(data)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if len(objs) == 0 {
			t.Errorf("%s: no document", f)
		}
	}
}

// TestEveryFileIsUsed: a manifest that no kustomization names would be
// checked here but never applied.
func TestEveryFileIsUsed(t *testing.T) {
	used := map[string]bool{}
	for _, f := range yamlFiles(t) {
		if filepath.Base(f) != "kustomization.yaml" {
			continue
		}
		used[f] = true
		data, _ := os.ReadFile(f)
		var k ktypes.Kustomization
		if err := yaml.Unmarshal(data, &k); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		dir := filepath.Dir(f)
		names := append(slices.Clone(k.Resources), k.Components...)
		for _, p := range k.Patches {
			if p.Path != "" {
				names = append(names, p.Path)
			}
		}
		for _, n := range names {
			used[filepath.Join(dir, n)] = true
		}
	}
	for _, f := range yamlFiles(t) {
		if !used[f] {
			t.Errorf("%s: named by no kustomization", f)
		}
	}
}

// A target is a kustomization to render: every base and overlay of this
// directory, and each of them with each component added.
type target struct {
	name string // as a path under this directory, "+component" for a combination
	dir  string // in the in-memory copy
}

const root = "/k"

// targets copies this directory into an in-memory file system, adds a
// kustomization for every pairing of a base or overlay with a component,
// and lists what to render.
func targets(t *testing.T) (filesys.FileSystem, []target) {
	t.Helper()
	fsys := filesys.MakeFsInMemory()
	var builds, components []string
	for _, f := range yamlFiles(t) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := fsys.WriteFile(filepath.Join(root, f), data); err != nil {
			t.Fatal(err)
		}
		if filepath.Base(f) != "kustomization.yaml" {
			continue
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(data, &tm); err != nil {
			t.Fatal(err)
		}
		if tm.Kind == "Component" {
			components = append(components, filepath.Dir(f))
		} else {
			builds = append(builds, filepath.Dir(f))
		}
	}
	var ts []target
	for _, b := range builds {
		ts = append(ts, target{b, filepath.Join(root, b)})
		for i, c := range components {
			dir := filepath.Join(root, "combinations", fmt.Sprintf("%d-%s", i, strings.ReplaceAll(b, "/", "-")))
			k := fmt.Sprintf("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [%q]\ncomponents: [%q]\n",
				"../../"+b, "../../"+c)
			if err := fsys.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k)); err != nil {
				t.Fatal(err)
			}
			ts = append(ts, target{b + "+" + c, dir})
		}
	}
	if len(builds) == 0 {
		t.Fatal("no kustomization to render")
	}
	return fsys, ts
}

// render runs kustomize, as kubectl apply -k would, and decodes its output
// strictly.
func render(t *testing.T, fsys filesys.FileSystem, dir string) []any {
	t.Helper()
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fsys, dir)
	if err != nil {
		t.Fatalf("kustomize build: %v", err)
	}
	out, err := m.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeAll(out)
	if err != nil {
		t.Fatalf("kustomize output: %v", err)
	}
	return objs
}

// TestRendered renders every target and checks the invariants on what it
// would apply.
func TestRendered(t *testing.T) {
	fsys, ts := targets(t)
	for _, tg := range ts {
		t.Run(tg.name, func(t *testing.T) {
			checkInvariants(t, render(t, fsys, tg.dir))
		})
	}
}
