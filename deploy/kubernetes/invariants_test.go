package kubernetes_test

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// repo is the repository's root, from this directory.
const repo = "../.."

// image is what the Dockerfile says about the image the manifests run.
type image struct {
	uid, gid   int64
	expose     []int32
	entrypoint string
	env        map[string]string
}

var imageRE = struct{ user, expose, entrypoint, env *regexp.Regexp }{
	regexp.MustCompile(`(?m)^USER\s+(\d+):(\d+)\s*$`),
	regexp.MustCompile(`(?m)^EXPOSE\s+(\d+)\s*$`),
	regexp.MustCompile(`(?m)^ENTRYPOINT\s+\["([^"]+)"\]\s*$`),
	regexp.MustCompile(`([A-Z_]+)=(\S+)`),
}

func readImage(t *testing.T) image {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repo, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	// The final stage only, with continuation lines joined.
	text := strings.ReplaceAll(string(data), "\\\n", " ")
	text = text[strings.LastIndex(text, "\nFROM "):]
	im := image{env: map[string]string{}}
	u := imageRE.user.FindStringSubmatch(text)
	e := imageRE.entrypoint.FindStringSubmatch(text)
	if u == nil || e == nil {
		t.Fatal("Dockerfile: no USER uid:gid or ENTRYPOINT [...] in the final stage")
	}
	im.uid, _ = strconv.ParseInt(u[1], 10, 64)
	im.gid, _ = strconv.ParseInt(u[2], 10, 64)
	im.entrypoint = e[1]
	for _, m := range imageRE.expose.FindAllStringSubmatch(text, -1) {
		p, _ := strconv.ParseInt(m[1], 10, 32)
		im.expose = append(im.expose, int32(p))
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "ENV ") {
			for _, m := range imageRE.env.FindAllStringSubmatch(line, -1) {
				im.env[m[1]] = m[2]
			}
		}
	}
	return im
}

// sourceStrings are the string literals of lined's Go sources: the
// environment variables and paths it knows are among them.
func sourceStrings(t *testing.T) map[string]bool {
	t.Helper()
	lit := regexp.MustCompile(`"([^"\\\n]*)"`)
	seen := map[string]bool{}
	for _, dir := range []string{"internal", "cmd"} {
		err := filepath.WalkDir(filepath.Join(repo, dir), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return err
			}
			data, err := os.ReadFile(p)
			for _, m := range lit.FindAllStringSubmatch(string(data), -1) {
				seen[m[1]] = true
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return seen
}

// Read by the Go runtime, not by lined's sources.
var runtimeEnv = []string{"GOMEMLIMIT", "GOGC", "GOMAXPROCS", "GODEBUG"}

// lined's defaults for what the manifests may leave unset.
const (
	defaultPort            = 8000
	defaultDrain           = time.Second
	defaultShutdownTimeout = 10 * time.Second
	defaultMemoryLimit     = 224 << 20
)

// objects sorts a rendered list by kind.
type objects struct {
	deployments []*appsv1.Deployment
	services    []*corev1.Service
	configMaps  map[string]*corev1.ConfigMap
	pvcs        map[string]*corev1.PersistentVolumeClaim
	pvs         map[string]*corev1.PersistentVolume
	pdbs        []*policyv1.PodDisruptionBudget
	hpas        []*autoscalingv2.HorizontalPodAutoscaler
	monitors    []*serviceMonitor
}

func sortObjects(t *testing.T, objs []any) objects {
	o := objects{configMaps: map[string]*corev1.ConfigMap{}, pvcs: map[string]*corev1.PersistentVolumeClaim{}, pvs: map[string]*corev1.PersistentVolume{}}
	for _, x := range objs {
		switch x := x.(type) {
		case *appsv1.Deployment:
			o.deployments = append(o.deployments, x)
		case *corev1.Service:
			o.services = append(o.services, x)
		case *corev1.ConfigMap:
			o.configMaps[x.Name] = x
		case *corev1.PersistentVolumeClaim:
			o.pvcs[x.Name] = x
		case *corev1.PersistentVolume:
			o.pvs[x.Name] = x
		case *policyv1.PodDisruptionBudget:
			o.pdbs = append(o.pdbs, x)
		case *autoscalingv2.HorizontalPodAutoscaler:
			o.hpas = append(o.hpas, x)
		case *serviceMonitor:
			o.monitors = append(o.monitors, x)
		default:
			t.Errorf("rendered a %T, which has no place here", x)
		}
	}
	if len(o.deployments) != 1 || len(o.services) != 1 || len(o.pdbs) != 1 || len(o.hpas) != 1 {
		t.Fatalf("want one Deployment, Service, PodDisruptionBudget and HorizontalPodAutoscaler; have %d, %d, %d, %d",
			len(o.deployments), len(o.services), len(o.pdbs), len(o.hpas))
	}
	return o
}

// environment is a container's effective environment: the image's, then
// the ConfigMaps of envFrom, then env, each winning over the one before.
func environment(t *testing.T, o objects, im image, c *corev1.Container) map[string]string {
	env := map[string]string{}
	for k, v := range im.env {
		env[k] = v
	}
	for _, from := range c.EnvFrom {
		if from.ConfigMapRef == nil {
			t.Errorf("container %s: envFrom other than a ConfigMap", c.Name)
			continue
		}
		cm, ok := o.configMaps[from.ConfigMapRef.Name]
		if !ok {
			t.Errorf("container %s: envFrom ConfigMap %q is not in the output", c.Name, from.ConfigMapRef.Name)
			continue
		}
		for k, v := range cm.Data {
			env[from.Prefix+k] = v
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			t.Errorf("container %s: %s comes from valueFrom, which this check cannot see", c.Name, e.Name)
		}
		env[e.Name] = e.Value
	}
	return env
}

// flag is --name's value in args (--name=V or --name V), else env's.
func flag(args []string, name string, env map[string]string, key string) (string, bool) {
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
		if a == "--"+name && i+1 < len(args) {
			return args[i+1], true
		}
	}
	v, ok := env[key]
	return v, ok && v != ""
}

func duration(t *testing.T, s string, ok bool, def time.Duration) time.Duration {
	if !ok {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Errorf("duration %q: %v", s, err)
	}
	return d
}

// goMemLimit parses GOMEMLIMIT as the Go runtime does (a number of bytes
// with an optional B, KiB, MiB, GiB or TiB).
func goMemLimit(s string) (int64, error) {
	units := []struct {
		suffix string
		shift  uint
	}{{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"B", 0}}
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseInt(n, 10, 64)
			return v << u.shift, err
		}
	}
	return strconv.ParseInt(s, 10, 64)
}

// containerPort resolves a probe's or Service's port against c's ports.
func containerPort(c *corev1.Container, p intstr.IntOrString) (int32, bool) {
	if p.Type == intstr.Int {
		return p.IntVal, slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool { return cp.ContainerPort == p.IntVal })
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort, true
		}
	}
	return 0, false
}

func selects(t *testing.T, what string, sel *metav1.LabelSelector, podLabels map[string]string) {
	t.Helper()
	if sel == nil || (len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0) {
		t.Errorf("%s: empty selector (would select every pod of the namespace)", what)
		return
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Errorf("%s: %v", what, err)
		return
	}
	if !s.Matches(labels.Set(podLabels)) {
		t.Errorf("%s: selector %v does not match the pods' labels %v", what, s, podLabels)
	}
}

func checkInvariants(t *testing.T, objs []any) {
	im := readImage(t)
	known := sourceStrings(t)
	o := sortObjects(t, objs)
	d, svc, pdb, hpa := o.deployments[0], o.services[0], o.pdbs[0], o.hpas[0]
	pod := &d.Spec.Template
	ps := &pod.Spec

	// The Deployment and what selects its pods.
	selects(t, "Deployment", d.Spec.Selector, pod.Labels)
	if d.Spec.Replicas != nil {
		t.Errorf("Deployment: replicas is set (%d): the HPA owns the count, and each apply would reset it", *d.Spec.Replicas)
	}
	if ru := d.Spec.Strategy.RollingUpdate; d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || ru == nil ||
		ru.MaxUnavailable == nil || intstr.FromInt32(0) != *ru.MaxUnavailable && intstr.FromString("0%") != *ru.MaxUnavailable {
		t.Errorf("Deployment: want a RollingUpdate with maxUnavailable 0 (a pod stops only once its successor is ready)")
	}
	if p := d.Spec.ProgressDeadlineSeconds; p == nil || *p < 1800 {
		t.Errorf("Deployment: progressDeadlineSeconds below 1800: indexing 100 GB from a network volume takes minutes")
	}
	selects(t, "Service", &metav1.LabelSelector{MatchLabels: svc.Spec.Selector}, pod.Labels)
	selects(t, "PodDisruptionBudget", pdb.Spec.Selector, pod.Labels)

	// The pod: the image's user, no privileges, no API token, no
	// Service variables among lined's LINED_* settings.
	if ps.AutomountServiceAccountToken == nil || *ps.AutomountServiceAccountToken {
		t.Errorf("pod: automountServiceAccountToken must be false: lined never calls the API")
	}
	if ps.EnableServiceLinks == nil || *ps.EnableServiceLinks {
		t.Errorf("pod: enableServiceLinks must be false: a Service named lined sets LINED_* variables")
	}
	psc := ps.SecurityContext
	switch {
	case psc == nil:
		t.Fatalf("pod: no securityContext")
	case psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot:
		t.Errorf("pod: runAsNonRoot must be true")
	case psc.RunAsUser == nil || *psc.RunAsUser != im.uid, psc.RunAsGroup == nil || *psc.RunAsGroup != im.gid:
		t.Errorf("pod: runAsUser and runAsGroup must be the image's %d:%d", im.uid, im.gid)
	case psc.FSGroup == nil || *psc.FSGroup != im.gid:
		t.Errorf("pod: fsGroup must be %d, so that the index volume is writable", im.gid)
	case psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
		t.Errorf("pod: seccompProfile must be RuntimeDefault")
	}

	volumes := map[string]corev1.Volume{}
	for _, v := range ps.Volumes {
		volumes[v.Name] = v
		j, _ := json.Marshal(v.VolumeSource)
		var src map[string]any
		_ = json.Unmarshal(j, &src)
		if len(src) != 1 {
			t.Errorf("volume %s: %d sources (%s), want one", v.Name, len(src), j)
		}
		if v.HostPath != nil && (v.HostPath.Type == nil || *v.HostPath.Type != corev1.HostPathDirectory) {
			t.Errorf("volume %s: hostPath type must be Directory (prepared, owned by the image's user): DirectoryOrCreate makes it root's", v.Name)
		}
		if c := v.PersistentVolumeClaim; c != nil {
			if !c.ReadOnly {
				t.Errorf("volume %s: the claim must be mounted read-only", v.Name)
			}
			if pvc, ok := o.pvcs[c.ClaimName]; ok && !slices.ContainsFunc(pvc.Spec.AccessModes, func(m corev1.PersistentVolumeAccessMode) bool {
				return m == corev1.ReadOnlyMany || m == corev1.ReadWriteMany
			}) {
				t.Errorf("claim %s: pods on several nodes mount it: want ReadOnlyMany (or ReadWriteMany), have %v", c.ClaimName, pvc.Spec.AccessModes)
			}
		}
	}

	// A volume that comes with its claim binds to it, and holds the data
	// read-only for every pod.
	for _, pv := range o.pvs {
		var claim *corev1.PersistentVolumeClaim
		for _, c := range o.pvcs {
			if c.Spec.VolumeName == pv.Name {
				claim = c
			}
		}
		switch {
		case claim == nil:
			t.Errorf("PersistentVolume %s: no claim names it (volumeName)", pv.Name)
		case !slices.Contains(pv.Spec.AccessModes, corev1.ReadOnlyMany):
			t.Errorf("PersistentVolume %s: want ReadOnlyMany, have %v", pv.Name, pv.Spec.AccessModes)
		case claim.Spec.StorageClassName == nil || *claim.Spec.StorageClassName != pv.Spec.StorageClassName:
			t.Errorf("PersistentVolume %s: storage class %q differs from the claim's", pv.Name, pv.Spec.StorageClassName)
		case pv.Spec.Capacity.Storage().Cmp(*claim.Spec.Resources.Requests.Storage()) < 0:
			t.Errorf("PersistentVolume %s: capacity %v below the claim's request %v: it would not bind", pv.Name,
				pv.Spec.Capacity.Storage(), claim.Spec.Resources.Requests.Storage())
		case pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimRetain:
			t.Errorf("PersistentVolume %s: reclaim policy must be Retain: the data is not lined's to delete", pv.Name)
		}
	}

	// The containers: mkindex then lined, from the same image.
	if len(ps.InitContainers) != 1 || ps.InitContainers[0].Name != "mkindex" || len(ps.Containers) != 1 || ps.Containers[0].Name != "lined" {
		t.Fatalf("pod: want init container mkindex and container lined")
	}
	mk, ld := &ps.InitContainers[0], &ps.Containers[0]
	if mk.Image == "" || mk.Image != ld.Image {
		t.Errorf("mkindex runs image %q, lined %q: the index format is the binaries'", mk.Image, ld.Image)
	}
	if len(ld.Command) != 0 && !slices.Equal(ld.Command, []string{im.entrypoint}) {
		t.Errorf("lined: command %v, want the image's entrypoint %s", ld.Command, im.entrypoint)
	}
	if want := []string{filepath.Join(filepath.Dir(im.entrypoint), "mkindex")}; !slices.Equal(mk.Command, want) || len(mk.Args) != 0 {
		t.Errorf("mkindex: command %v args %v, want %v with no arguments (it then indexes LINED_FILE's files)", mk.Command, mk.Args, want)
	}
	envs := map[string]map[string]string{}
	for _, c := range []*corev1.Container{mk, ld} {
		env := environment(t, o, im, c)
		envs[c.Name] = env
		for k := range env {
			if _, inImage := im.env[k]; !inImage && !known[k] && !slices.Contains(runtimeEnv, k) {
				t.Errorf("container %s: %s is read by neither lined nor the Go runtime (a typo?)", c.Name, k)
			}
		}
		sc := c.SecurityContext
		switch {
		case sc == nil:
			t.Errorf("container %s: no securityContext", c.Name)
		case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
			t.Errorf("container %s: allowPrivilegeEscalation must be false", c.Name)
		case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
			t.Errorf("container %s: readOnlyRootFilesystem must be true", c.Name)
		case sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0:
			t.Errorf("container %s: capabilities must drop ALL and add none", c.Name)
		case sc.Privileged != nil && *sc.Privileged, sc.RunAsUser != nil && *sc.RunAsUser != im.uid,
			sc.SeccompProfile != nil && sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
			t.Errorf("container %s: securityContext overrides the pod's", c.Name)
		}
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, okr := c.Resources.Requests[r]
			lim, okl := c.Resources.Limits[r]
			if !okr || !okl || req.Sign() <= 0 || req.Cmp(lim) > 0 {
				t.Errorf("container %s: %s needs a request and a limit, request ≤ limit (%v, %v)", c.Name, r, req.String(), lim.String())
			}
		}
		for _, m := range c.VolumeMounts {
			if _, ok := volumes[m.Name]; !ok {
				t.Errorf("container %s: mount of %s, which is no volume", c.Name, m.Name)
			}
		}
	}
	mkEnv, ldEnv := envs["mkindex"], envs["lined"]

	// Both tools see the same files, the same way, and put the index in
	// the same place: else lined builds it again and the init was for
	// nothing.
	for _, k := range []string{"LINED_FILE", "LINED_INDEX", "XDG_CACHE_HOME"} {
		if mkEnv[k] != ldEnv[k] {
			t.Errorf("%s: mkindex has %q, lined %q", k, mkEnv[k], ldEnv[k])
		}
	}
	mounts := func(c *corev1.Container) []string {
		var s []string
		for _, m := range c.VolumeMounts {
			s = append(s, fmt.Sprintf("%s:%s:%v:%s", m.Name, m.MountPath, m.ReadOnly, m.SubPath))
		}
		slices.Sort(s)
		return s
	}
	if !slices.Equal(mounts(mk), mounts(ld)) {
		t.Errorf("volume mounts differ: mkindex %v, lined %v", mounts(mk), mounts(ld))
	}
	mountOf := func(path string) *corev1.VolumeMount {
		var best *corev1.VolumeMount
		for i, m := range ld.VolumeMounts {
			if (path == m.MountPath || strings.HasPrefix(path, strings.TrimSuffix(m.MountPath, "/")+"/")) &&
				(best == nil || len(m.MountPath) > len(best.MountPath)) {
				best = &ld.VolumeMounts[i]
			}
		}
		return best
	}
	files := strings.Split(ldEnv["LINED_FILE"], ",")
	names := map[string]string{}
	for _, f := range files {
		if m := mountOf(f); !filepath.IsAbs(f) || m == nil || !m.ReadOnly {
			t.Errorf("LINED_FILE: %q must be an absolute path on a volume mounted read-only", f)
		}
		// As lined checks at start: each file is served at /files/NAME/.
		if other, ok := names[filepath.Base(f)]; ok {
			t.Errorf("LINED_FILE: %s and %s have the same base name: lined refuses to start", other, f)
		}
		names[filepath.Base(f)] = f
	}
	if len(files) > 1 && ldEnv["LINED_INDEX"] != "" {
		t.Errorf("LINED_INDEX names one index file: with several files lined refuses to start")
	}
	if cache := ldEnv["XDG_CACHE_HOME"]; ldEnv["LINED_INDEX"] == "" {
		if m := mountOf(cache); m == nil || m.ReadOnly || m.MountPath != cache {
			t.Errorf("the cache directory %q (the indexes) must be a writable volume: the root file system is read-only", cache)
		}
	}

	// lined's address and the ports that lead to it.
	addr, ok := flag(ld.Args, "addr", ldEnv, "LINED_ADDR")
	port := int32(defaultPort)
	if ok {
		host, p, err := net.SplitHostPort(addr)
		n, err2 := strconv.ParseUint(p, 10, 16)
		if err != nil || err2 != nil {
			t.Fatalf("lined: address %q: want HOST:PORT", addr)
		}
		if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
			t.Errorf("lined: address %q: must listen on every address, where the kubelet's probes and the Service reach it", addr)
		}
		port = int32(n)
	} else if p, ok := ldEnv["APP_PORT"]; ok {
		n, _ := strconv.ParseInt(p, 10, 32)
		port = int32(n)
	}
	if !slices.Contains(im.expose, port) {
		t.Errorf("lined listens on %d; the image exposes %v", port, im.expose)
	}
	if p, ok := containerPort(ld, intstr.FromString("http")); !ok || p != port {
		t.Errorf("lined: container port http is %d, lined listens on %d", p, port)
	}
	probe := func(name string, pr *corev1.Probe, path string) {
		switch {
		case pr == nil:
			t.Errorf("lined: no %s probe", name)
		case pr.HTTPGet == nil:
			t.Errorf("lined: %s probe: want httpGet %s", name, path)
		case pr.HTTPGet.Path != path || !known[path]:
			t.Errorf("lined: %s probe: path %q, want %q (served by lined)", name, pr.HTTPGet.Path, path)
		case pr.HTTPGet.Scheme != "" && pr.HTTPGet.Scheme != corev1.URISchemeHTTP:
			t.Errorf("lined: %s probe: scheme %s: lined speaks HTTP", name, pr.HTTPGet.Scheme)
		default:
			if p, ok := containerPort(ld, pr.HTTPGet.Port); !ok || p != port {
				t.Errorf("lined: %s probe on port %v (%d): lined listens on %d", name, pr.HTTPGet.Port.String(), p, port)
			}
		}
	}
	probe("readiness", ld.ReadinessProbe, "/readyz")
	probe("liveness", ld.LivenessProbe, "/healthz")
	if lp := ld.LivenessProbe; lp != nil {
		period, failures := lp.PeriodSeconds, lp.FailureThreshold
		if period == 0 {
			period = 10 // the API's defaults
		}
		if failures == 0 {
			failures = 3
		}
		if period*failures < 20 {
			t.Errorf("lined: liveness gives up after %d s: a busy node could restart a healthy pod", period*failures)
		}
	}
	// The index is built by mkindex before lined starts (above); a startup
	// probe, if one is added, must not be /readyz, which is 503 for as
	// long as an index is built, 100 GB or not.
	if sp := ld.StartupProbe; sp != nil {
		probe("startup", sp, "/healthz")
	}
	for i, sp := range svc.Spec.Ports {
		if p, ok := containerPort(ld, sp.TargetPort); !ok || p != port {
			t.Errorf("Service port %d: targetPort %v reaches %d, lined listens on %d", i, sp.TargetPort.String(), p, port)
		}
	}
	ann := pod.Annotations
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != strconv.Itoa(int(port)) || ann["prometheus.io/path"] != "/metrics" || !known["/metrics"] {
		t.Errorf("pod: prometheus.io annotations must say scrape true, port %d, path /metrics; have %v", port, ann)
	}

	// Stopping: the preStop sleep lets the endpoints forget the pod, then
	// lined drains and finishes within its shutdown timeout, all before
	// the grace period ends in SIGKILL.
	drain := duration(t, ldEnv["LINED_DRAIN"], ldEnv["LINED_DRAIN"] != "", defaultDrain)
	if v, ok := flag(ld.Args, "drain", nil, ""); ok {
		drain = duration(t, v, true, defaultDrain)
	}
	stopTimeout := duration(t, ldEnv["LINED_SHUTDOWN_TIMEOUT"], ldEnv["LINED_SHUTDOWN_TIMEOUT"] != "", defaultShutdownTimeout)
	if v, ok := flag(ld.Args, "shutdown-timeout", nil, ""); ok {
		stopTimeout = duration(t, v, true, defaultShutdownTimeout)
	}
	var sleep time.Duration
	if l := ld.Lifecycle; l == nil || l.PreStop == nil || l.PreStop.Sleep == nil || l.PreStop.Sleep.Seconds < 1 {
		t.Errorf("lined: want a preStop sleep (the image has no shell for an exec sleep)")
	} else {
		sleep = time.Duration(l.PreStop.Sleep.Seconds) * time.Second
	}
	if drain <= 0 || drain > stopTimeout {
		t.Errorf("lined: drain %v must be positive and within the shutdown timeout %v", drain, stopTimeout)
	}
	grace := 30 * time.Second // the API's default
	if g := ps.TerminationGracePeriodSeconds; g != nil {
		grace = time.Duration(*g) * time.Second
	}
	if grace <= sleep+stopTimeout {
		t.Errorf("terminationGracePeriodSeconds %v must exceed preStop sleep %v + shutdown timeout %v (drain %v included)", grace, sleep, stopTimeout, drain)
	}

	// Memory: the Go heap's soft limit below the container's limit.
	limit := int64(defaultMemoryLimit)
	if v, ok := ldEnv["GOMEMLIMIT"]; ok {
		n, err := goMemLimit(v)
		if err != nil {
			t.Errorf("GOMEMLIMIT %q: %v", v, err)
		}
		limit = n
	}
	if mem := ld.Resources.Limits.Memory(); mem.Value() <= limit+32<<20 {
		t.Errorf("lined: memory limit %v leaves no room above GOMEMLIMIT %s for the binary and the mapped index", mem, resource.NewQuantity(limit, resource.BinarySI))
	}

	// The autoscaler and the disruption budget.
	ref := hpa.Spec.ScaleTargetRef
	if ref.APIVersion != "apps/v1" || ref.Kind != "Deployment" || ref.Name != d.Name {
		t.Errorf("HPA: targets %s %s %s, not the Deployment %s", ref.APIVersion, ref.Kind, ref.Name, d.Name)
	}
	minReplicas := int32(1)
	if hpa.Spec.MinReplicas != nil {
		minReplicas = *hpa.Spec.MinReplicas
	}
	if minReplicas < 2 || hpa.Spec.MaxReplicas < minReplicas {
		t.Errorf("HPA: replicas %d to %d: want at least 2, so that one serves while the other is replaced", minReplicas, hpa.Spec.MaxReplicas)
	}
	if !slices.ContainsFunc(hpa.Spec.Metrics, func(m autoscalingv2.MetricSpec) bool {
		return m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && m.Resource.Name == corev1.ResourceCPU &&
			m.Resource.Target.Type == autoscalingv2.UtilizationMetricType && m.Resource.Target.AverageUtilization != nil &&
			*m.Resource.Target.AverageUtilization > 0 && *m.Resource.Target.AverageUtilization <= 100
	}) {
		t.Errorf("HPA: want a CPU utilization target between 1 and 100%%")
	}
	switch {
	case pdb.Spec.MaxUnavailable != nil:
		if v := *pdb.Spec.MaxUnavailable; v.Type == intstr.Int && v.IntVal < 1 || v.Type == intstr.String && v.StrVal == "0%" {
			t.Errorf("PDB: maxUnavailable %s allows no eviction: node drains would block", v.String())
		}
	case pdb.Spec.MinAvailable != nil:
		if v := *pdb.Spec.MinAvailable; v.Type != intstr.Int || v.IntVal >= minReplicas {
			t.Errorf("PDB: minAvailable %s must be a count below the HPA's minimum %d", v.String(), minReplicas)
		}
	default:
		t.Errorf("PDB: neither maxUnavailable nor minAvailable")
	}

	// The ServiceMonitor, when there is one, scrapes the Service's port.
	for _, sm := range o.monitors {
		selects(t, "ServiceMonitor", &sm.Spec.Selector, svc.Labels)
		if len(sm.Spec.Endpoints) == 0 {
			t.Errorf("ServiceMonitor: no endpoints")
		}
		for _, e := range sm.Spec.Endpoints {
			if e.Path != "/metrics" || !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == e.Port }) {
				t.Errorf("ServiceMonitor: endpoint port %q path %q: want a port name of the Service and /metrics", e.Port, e.Path)
			}
		}
	}
}
