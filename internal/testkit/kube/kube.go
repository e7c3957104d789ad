package kube

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/edgeimg/edgeimg/internal/testkit"
	"github.com/edgeimg/edgeimg/internal/testkit/process"
)

// APIServer is a kube-apiserver with kine (SQLite) as its storage, listening
// on a free loopback port for the duration of one test.
type APIServer struct {
	// Config authenticates as a system:masters client.
	Config *rest.Config
	// Kubeconfig is a kubeconfig file with the same credentials.
	Kubeconfig string
	// URL is the server's https URL.
	URL string
	// Dir holds the certificates, the SQLite database and the logs
	// (kine.log, kube-apiserver.log).
	Dir string

	stop func()
}

// Stop stops kube-apiserver and kine and removes Dir; t.Cleanup calls it
// too, it runs once.
func (s *APIServer) Stop() { s.stop() }

// StartAPIServer starts kine on a unix socket (SQLite in a temp dir) and
// kube-apiserver on 127.0.0.1 with certificates and service-account keys
// generated for it, waits for /readyz, and stops both in t.Cleanup. The
// binaries come from testkit.Binary (hack/build-bins.sh).
func StartAPIServer(t testing.TB) *APIServer {
	t.Helper()
	kine := testkit.Binary(t, "kine")
	apiserver := testkit.Binary(t, "kube-apiserver")

	dir, err := os.MkdirTemp("", "edgeimg-apiserver-") // short: the kine socket path must fit sun_path
	if err != nil {
		t.Fatalf("apiserver dir: %v", err)
	}
	var stops []func()
	var once sync.Once
	stopAll := func() {
		once.Do(func() {
			for i := len(stops) - 1; i >= 0; i-- {
				stops[i]()
			}
			os.RemoveAll(dir)
		})
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, l := range []string{"kube-apiserver.log", "kine.log"} {
				if b, err := os.ReadFile(filepath.Join(dir, l)); err == nil {
					t.Logf("--- %s (tail)\n%s", l, testkit.Tail(string(b), 40))
				}
			}
		}
		stopAll()
	})

	pki, err := writeAPIServerPKI(dir)
	if err != nil {
		t.Fatalf("apiserver certificates: %v", err)
	}

	// kine and the apiserver's etcd client both take the socket as
	// unix://<path>:<port>; the path then contains the ":2379" (as in k0s).
	kineURL := "unix://" + filepath.Join(dir, "kine.sock:2379")
	dsn := "sqlite://" + filepath.Join(dir, "state.db") +
		"?_journal_mode=WAL&_busy_timeout=30000&_synchronous=NORMAL&_txlock=immediate&cache=shared"
	kp, err := process.Start(filepath.Join(dir, "kine.log"), kine,
		"--endpoint="+dsn, "--listen-address="+kineURL, "--metrics-bind-address=0")
	if err != nil {
		t.Fatalf("start kine: %v", err)
	}
	stops = append(stops, func() { kp.Stop(10 * time.Second) })

	var srv *APIServer
	var lastErr error
	// A free port can be taken between choosing and binding it: try again then.
	for attempt := 0; attempt < 3 && srv == nil; attempt++ {
		port, err := testkit.FreePort()
		if err != nil {
			t.Fatalf("apiserver port: %v", err)
		}
		logPath := filepath.Join(dir, "kube-apiserver.log")
		ap, err := process.Start(logPath, apiserver, apiserverArgs(dir, pki, kineURL, port)...)
		if err != nil {
			t.Fatalf("start kube-apiserver: %v", err)
		}
		url := "https://127.0.0.1:" + strconv.Itoa(port)
		cfg := &rest.Config{
			Host: url,
			TLSClientConfig: rest.TLSClientConfig{
				CAData: pki.caPEM, CertData: pki.clientCertPEM, KeyData: pki.clientKeyPEM,
			},
			QPS: 200, Burst: 400,
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		lastErr = WaitReadyz(ctx, cfg, ap, kp)
		cancel()
		if lastErr != nil {
			ap.Stop(5 * time.Second)
			log, _ := os.ReadFile(logPath)
			if ap.Exited() && bytes.Contains(log, []byte("address already in use")) {
				continue
			}
			kl, _ := os.ReadFile(filepath.Join(dir, "kine.log"))
			t.Fatalf("kube-apiserver not ready: %v\n--- kube-apiserver.log (tail)\n%s\n--- kine.log (tail)\n%s",
				lastErr, testkit.Tail(string(log), 30), testkit.Tail(string(kl), 15))
		}
		stops = append(stops, func() { ap.Stop(15 * time.Second) })
		srv = &APIServer{Config: cfg, URL: url, Dir: dir, Kubeconfig: filepath.Join(dir, "kubeconfig"), stop: stopAll}
	}
	if srv == nil {
		t.Fatalf("kube-apiserver: no free port after 3 attempts: %v", lastErr)
	}
	if err := WriteKubeconfig(srv.Kubeconfig, srv.Config); err != nil {
		t.Fatal(err)
	}
	return srv
}

func apiserverArgs(dir string, pki *apiserverPKI, kineURL string, port int) []string {
	return []string{
		"--etcd-servers=" + kineURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + filepath.Join(dir, "certs"),
		"--tls-cert-file=" + pki.serverCert,
		"--tls-private-key-file=" + pki.serverKey,
		"--client-ca-file=" + pki.caCert,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + pki.saPub,
		"--service-account-signing-key-file=" + pki.saKey,
		// An allocation range only: nothing is routed to it.
		"--service-cluster-ip-range=10.96.0.0/16",
		"--allow-privileged=true",
		// No kubelets, no endpoints: the loopback advertise address would
		// be an invalid endpoint of the kubernetes Service.
		"--endpoint-reconciler-type=none",
		"--enable-priority-and-fairness=false",
		"--profiling=false",
		"--watch-cache=false",
	}
}

// WaitReadyz polls GET /readyz until it answers 200, ctx ends, or one of the
// processes the server depends on exits.
func WaitReadyz(ctx context.Context, cfg *rest.Config, procs ...*process.Process) error {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return fmt.Errorf("readyz client: %w", err)
	}
	var last string
	for {
		for _, p := range procs {
			if p != nil && p.Exited() {
				return fmt.Errorf("%s exited: %v", p.Name(), p.Err())
			}
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(cfg.Host, "/")+"/readyz", nil)
		resp, err := hc.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s/readyz: %w (last answer: %s)", cfg.Host, ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// WriteKubeconfig writes a kubeconfig file holding cfg's server and TLS
// client credentials.
func WriteKubeconfig(path string, cfg *rest.Config) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["edgeimg-test"] = &clientcmdapi.Cluster{
		Server: cfg.Host, CertificateAuthorityData: cfg.CAData,
	}
	kc.AuthInfos["edgeimg-test"] = &clientcmdapi.AuthInfo{
		ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData,
	}
	kc.Contexts["edgeimg-test"] = &clientcmdapi.Context{Cluster: "edgeimg-test", AuthInfo: "edgeimg-test"}
	kc.CurrentContext = "edgeimg-test"
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}

// apiserverPKI names the files writeAPIServerPKI wrote.
type apiserverPKI struct {
	caCert, serverCert, serverKey, saKey, saPub string
	caPEM, clientCertPEM, clientKeyPEM          []byte
}

// writeAPIServerPKI generates a CA, a serving certificate for 127.0.0.1 and
// the kubernetes Service names, a system:masters client certificate and the
// service-account signing key pair.
func writeAPIServerPKI(dir string) (*apiserverPKI, error) {
	p := &apiserverPKI{
		caCert:     filepath.Join(dir, "ca.crt"),
		serverCert: filepath.Join(dir, "apiserver.crt"),
		serverKey:  filepath.Join(dir, "apiserver.key"),
		saKey:      filepath.Join(dir, "sa.key"),
		saPub:      filepath.Join(dir, "sa.pub"),
	}
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "edgeimg-test-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	p.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})

	issue := func(serial int64, subject pkix.Name, usage x509.ExtKeyUsage, ips []net.IP, dns []string) (certPEM, keyPEM []byte, err error) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      subject,
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			IPAddresses:  ips,
			DNSNames:     dns,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return nil, nil, fmt.Errorf("certificate %s: %w", subject.CommonName, err)
		}
		kder, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			return nil, nil, err
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), nil
	}
	srvCert, srvKey, err := issue(2, pkix.Name{CommonName: "kube-apiserver"}, x509.ExtKeyUsageServerAuth,
		[]net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		[]string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"})
	if err != nil {
		return nil, err
	}
	p.clientCertPEM, p.clientKeyPEM, err = issue(3,
		pkix.Name{CommonName: "edgeimg-test-admin", Organization: []string{"system:masters"}},
		x509.ExtKeyUsageClientAuth, nil, nil)
	if err != nil {
		return nil, err
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	saDER, err := x509.MarshalECPrivateKey(saKey)
	if err != nil {
		return nil, err
	}
	saPubDER, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return nil, err
	}
	for path, data := range map[string][]byte{
		p.caCert:     p.caPEM,
		p.serverCert: srvCert,
		p.serverKey:  srvKey,
		p.saKey:      pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: saDER}),
		p.saPub:      pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: saPubDER}),
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// DryRunFieldManager is the field manager DryRun applies with.
const DryRunFieldManager = "edgeimg-dryrun"

var crdGK = schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}

// DryRun checks objects against a real API server the way k0s's applier
// would meet them: Namespaces and CustomResourceDefinitions are applied for
// real first (then the CRDs are waited for until Established, at most 30 s
// each), the REST mapping is rediscovered, and every other object is
// server-side applied with dryRun=All, so admission, defaulting, schema
// validation and the CRDs' OpenAPI schemas all run but nothing is stored.
// It returns one error per rejected object, each naming kind,
// namespace/name; a namespaced object without a namespace is rejected too,
// as k0s's applier requires one. Failures to reach the server at all stop
// the test.
func DryRun(t testing.TB, cfg *rest.Config, objs []*unstructured.Unstructured) []error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	errs, err := ServerDryRun(ctx, cfg, objs)
	if err != nil {
		t.Fatalf("dry-run: %v", err)
	}
	return errs
}

// ServerDryRun is DryRun without a testing.TB: the per-object rejections,
// and an error when the server cannot be used at all.
func ServerDryRun(ctx context.Context, cfg *rest.Config, objs []*unstructured.Unstructured) ([]error, error) {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("dynamic client: %w", err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("discovery client: %w", err)
	}
	mapper := func() (meta.RESTMapper, error) {
		groups, err := restmapper.GetAPIGroupResources(dc)
		if err != nil {
			return nil, fmt.Errorf("discovery: %w", err)
		}
		return restmapper.NewDiscoveryRESTMapper(groups), nil
	}

	var first, others []*unstructured.Unstructured
	for _, o := range objs {
		gk := o.GroupVersionKind().GroupKind()
		if gk == crdGK || (gk.Group == "" && gk.Kind == "Namespace") {
			first = append(first, o)
		} else {
			others = append(others, o)
		}
	}

	var errs []error
	m, err := mapper()
	if err != nil {
		return nil, err
	}
	var crds []*unstructured.Unstructured
	for _, o := range first {
		if err := apply(ctx, dyn, m, o, false); err != nil {
			errs = append(errs, err)
			continue
		}
		if o.GroupVersionKind().GroupKind() == crdGK {
			crds = append(crds, o)
		}
	}
	crdRes := schema.GroupVersionResource{Group: crdGK.Group, Version: "v1", Resource: "customresourcedefinitions"}
	for _, o := range crds {
		if err := waitEstablished(ctx, dyn.Resource(crdRes), o.GetName(), 30*time.Second); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", objectName(o), err))
		}
	}
	if len(crds) > 0 {
		if m, err = mapper(); err != nil {
			return nil, err
		}
	}
	for _, o := range others {
		if err := apply(ctx, dyn, m, o, true); err != nil {
			errs = append(errs, err)
		}
	}
	if ctx.Err() != nil {
		return errs, fmt.Errorf("dry-run: %w", ctx.Err())
	}
	return errs, nil
}

// objectName is "Kind namespace/name" or "Kind name".
func objectName(o *unstructured.Unstructured) string {
	if ns := o.GetNamespace(); ns != "" {
		return fmt.Sprintf("%s %s/%s", o.GetKind(), ns, o.GetName())
	}
	return fmt.Sprintf("%s %s", o.GetKind(), o.GetName())
}

// apply server-side applies o (force, DryRunFieldManager), with dryRun=All
// when dry.
func apply(ctx context.Context, dyn dynamic.Interface, m meta.RESTMapper, o *unstructured.Unstructured, dry bool) error {
	gvk := o.GroupVersionKind()
	mapping, err := m.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return fmt.Errorf("%s: no such kind on the server (%s): %w", objectName(o), gvk.GroupVersion(), err)
	}
	var ri dynamic.ResourceInterface = dyn.Resource(mapping.Resource)
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		if o.GetNamespace() == "" {
			return fmt.Errorf("%s: namespaced kind without metadata.namespace", objectName(o))
		}
		ri = dyn.Resource(mapping.Resource).Namespace(o.GetNamespace())
	}
	data, err := json.Marshal(o.Object)
	if err != nil {
		return fmt.Errorf("%s: %w", objectName(o), err)
	}
	opts := metav1.PatchOptions{FieldManager: DryRunFieldManager, Force: ptr(true)}
	if dry {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	if _, err := ri.Patch(ctx, o.GetName(), types.ApplyPatchType, data, opts); err != nil {
		return fmt.Errorf("%s: %w", objectName(o), err)
	}
	return nil
}

func waitEstablished(ctx context.Context, ri dynamic.ResourceInterface, name string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		crd, err := ri.Get(ctx, name, metav1.GetOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("wait for Established: %w", err)
		}
		if err == nil {
			conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
			for _, c := range conds {
				cm, _ := c.(map[string]any)
				if cm["type"] == "Established" && cm["status"] == "True" {
					return nil
				}
				if cm["type"] == "NamesAccepted" && cm["status"] == "False" {
					return fmt.Errorf("names not accepted: %v", cm["message"])
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not Established after %s", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func ptr[T any](v T) *T { return &v }
