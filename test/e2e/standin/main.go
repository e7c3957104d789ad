package main

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// Kourier's ingress class, as config-network names it.
const ingressClass = "kourier.ingress.networking.knative.dev"

var kingresses = schema.GroupVersionResource{Group: "networking.internal.knative.dev", Version: "v1alpha1", Resource: "ingresses"}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	var err error
	if filepath.Base(os.Args[0]) == "envoy" {
		err = gateway(ctx, os.Args[1:])
	} else {
		err = controller(ctx)
	}
	if err != nil && ctx.Err() == nil {
		log.Fatalf("standin: %v", err)
	}
}

// gateway answers the Kourier gateway's probes.
func gateway(ctx context.Context, args []string) error {
	log.Printf("standin for the Kourier gateway (Envoy is not available here; nothing is routed); ignoring args %q", args)
	mux := http.NewServeMux()
	mux.HandleFunc("/ready", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "LIVE (edgeimg e2e stand-in, not Envoy)")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "edgeimg e2e stand-in for the Kourier gateway: Envoy is not available here, nothing is routed", http.StatusServiceUnavailable)
	})
	errs := make(chan error, 3)
	var servers []*http.Server
	for _, port := range []string{"8080", "8081", "8090"} {
		srv := &http.Server{Addr: ":" + port, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, srv)
		go func() { errs <- srv.ListenAndServe() }()
	}
	select {
	case <-ctx.Done():
		for _, s := range servers {
			_ = s.Close()
		}
		return nil
	case err := <-errs:
		return err
	}
}

// controller serves gRPC health and marks KIngresses Ready.
func controller(ctx context.Context) error {
	log.Printf("standin for net-kourier's controller (net-kourier is not buildable here): marks %s KIngresses Ready, routes nothing", ingressClass)
	lis, err := net.Listen("tcp", ":18000")
	if err != nil {
		return err
	}
	gs := grpc.NewServer()
	healthpb.RegisterHealthServer(gs, health.NewServer()) // SERVING
	go func() {
		<-ctx.Done()
		gs.Stop()
	}()
	go func() {
		if err := gs.Serve(lis); err != nil && ctx.Err() == nil {
			log.Fatalf("standin: grpc: %v", err)
		}
	}()

	cfg, err := rest.InClusterConfig()
	if err != nil {
		return fmt.Errorf("in-cluster config: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ns := os.Getenv("KOURIER_GATEWAY_NAMESPACE")
	if ns == "" {
		ns = "kourier-system"
	}
	for {
		if err := markReady(ctx, dyn, ns); err != nil {
			log.Printf("standin: %v", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(2 * time.Second):
		}
	}
}

// markReady writes the Ready status of every Kourier KIngress whose
// status does not say so for its current generation.
func markReady(ctx context.Context, dyn dynamic.Interface, gatewayNS string) error {
	list, err := dyn.Resource(kingresses).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list KIngresses: %w", err)
	}
	for i := range list.Items {
		ing := &list.Items[i]
		if ing.GetAnnotations()["networking.knative.dev/ingress.class"] != ingressClass {
			continue
		}
		if readyFor(ing) {
			continue
		}
		now := time.Now().UTC().Format(time.RFC3339)
		var conds []any
		for _, t := range []string{"LoadBalancerReady", "NetworkConfigured", "Ready"} {
			conds = append(conds, map[string]any{"type": t, "status": "True", "lastTransitionTime": now})
		}
		lb := func(svc string) map[string]any {
			return map[string]any{"ingress": []any{map[string]any{"domainInternal": svc + "." + gatewayNS + ".svc.cluster.local"}}}
		}
		ing.Object["status"] = map[string]any{
			"observedGeneration":  ing.GetGeneration(),
			"conditions":          conds,
			"publicLoadBalancer":  lb("kourier"),
			"privateLoadBalancer": lb("kourier-internal"),
		}
		if _, err := dyn.Resource(kingresses).Namespace(ing.GetNamespace()).UpdateStatus(ctx, ing, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("KIngress %s/%s: %w", ing.GetNamespace(), ing.GetName(), err)
		}
		log.Printf("standin: marked KIngress %s/%s (generation %d) Ready without routing it", ing.GetNamespace(), ing.GetName(), ing.GetGeneration())
	}
	return nil
}

func readyFor(ing *unstructured.Unstructured) bool {
	gen, _, _ := unstructured.NestedInt64(ing.Object, "status", "observedGeneration")
	if gen != ing.GetGeneration() {
		return false
	}
	conds, _, _ := unstructured.NestedSlice(ing.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Ready" {
			return strings.EqualFold(fmt.Sprint(m["status"]), "True")
		}
	}
	return false
}
