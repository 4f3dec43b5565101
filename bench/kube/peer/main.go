// Command bench-peer is the peer of bench/kube/informer_bench: client-go's informer, set up the
// way a careful client-go controller sets it up, timed and weighed the same way informer_bench
// weighs botsec's Informer. It syncs a SharedIndexInformer on the ConfigMaps labelled
// bench=informer in one namespace and prints one JSON line on stdout:
//
//	{"peer":"client-go v0.37.2","objects":N,"sync_seconds":S,"rss_bytes_per_object":B,...}
//
// Usage:
//
//	bench-peer --kubeconfig PATH --namespace NS --expect N
//
// Fairness, matching informer_bench:
//   - the same objects (same namespace, same label selector) from the same API server;
//   - managedFields are stripped by a transform before objects enter the cache, as botsec's
//     Store does (informers.WithTransform);
//   - the connection to the API server is warm before the clock starts (informer_bench lists
//     the objects before it times its informer; the peer lists one);
//   - the clock runs from starting the informer to the cache reporting synced
//     (WaitForCacheSync, which in client-go v0.37 waits on a channel, without polling);
//   - RSS is read from /proc/self/statm just before the informer starts and just after it has
//     synced, each time after returning freed memory to the OS (runtime.GC and
//     debug.FreeOSMemory here, malloc_trim(0) in informer_bench); the difference divided by
//     the objects is the figure. heap_bytes_per_object is the same difference of live heap
//     (runtime.MemStats.HeapAlloc here, mallinfo2 in informer_bench): what the cache holds
//     before the allocator's own overhead and fragmentation.
//
// Diagnostics go to stderr; on failure it exits 1 with one line saying why.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientfeatures "k8s.io/client-go/features"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// The label informer_bench puts on the ConfigMaps it seeds, and selects them by.
const selector = "bench=informer"

type result struct {
	Peer               string  `json:"peer"`
	Objects            int     `json:"objects"`
	SyncSeconds        float64 `json:"sync_seconds"`
	RSSBytesPerObject  float64 `json:"rss_bytes_per_object"`
	HeapBytesPerObject float64 `json:"heap_bytes_per_object"`
	RSSBeforeBytes     int64   `json:"rss_before_bytes"`
	RSSAfterBytes      int64   `json:"rss_after_bytes"`
	InitialSync        string  `json:"initial_sync"`
	ManagedFields      string  `json:"managed_fields"`
	GoVersion          string  `json:"go_version"`
}

// rss is the resident set size in bytes, from /proc/self/statm, as informer_bench reads it.
func rss() (int64, error) {
	raw, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, err
	}
	fields := strings.Fields(string(raw))
	if len(fields) < 2 {
		return 0, fmt.Errorf("/proc/self/statm: unexpected %q", raw)
	}
	pages, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("/proc/self/statm: %v", err)
	}
	return pages * int64(os.Getpagesize()), nil
}

// settled returns freed memory to the OS, then reads RSS (what is left is what is live) and
// the bytes of live heap objects.
func settled() (rssBytes int64, heapBytes uint64, err error) {
	runtime.GC()
	debug.FreeOSMemory()
	var stats runtime.MemStats
	runtime.ReadMemStats(&stats)
	rssBytes, err = rss()
	return rssBytes, stats.HeapAlloc, err
}

// stripManagedFields drops metadata.managedFields before an object enters the cache, as
// botsec's Store does; controllers never read them and they are most of a ConfigMap's size.
func stripManagedFields(obj any) (any, error) {
	if object, err := meta.Accessor(obj); err == nil {
		object.SetManagedFields(nil)
	}
	return obj, nil
}

// clientGoVersion is the version of k8s.io/client-go built in, from go.mod via the build info.
func clientGoVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "k8s.io/client-go" {
				return dep.Version
			}
		}
	}
	return "(unknown version)"
}

func run(kubeconfig, namespace string, expect int, timeout time.Duration) (*result, error) {
	config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	// Warm the connection, as informer_bench's own list of the objects warms its connection.
	if _, err := client.CoreV1().ConfigMaps(namespace).List(ctx,
		metav1.ListOptions{LabelSelector: selector, Limit: 1}); err != nil {
		return nil, fmt.Errorf("list ConfigMaps in %s: %w", namespace, err)
	}

	factory := informers.NewSharedInformerFactoryWithOptions(client, 0,
		informers.WithNamespace(namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = selector }),
		informers.WithTransform(stripManagedFields))
	informer := factory.Core().V1().ConfigMaps().Informer()

	before, heapBefore, err := settled()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	factory.Start(ctx.Done())
	synced := factory.WaitForCacheSync(ctx.Done())
	seconds := time.Since(start).Seconds()
	for kind, ok := range synced {
		if !ok {
			return nil, fmt.Errorf("%v informer did not sync within %v", kind, timeout)
		}
	}
	if len(synced) != 1 {
		return nil, fmt.Errorf("expected one informer to sync, got %d", len(synced))
	}
	after, heapAfter, err := settled()
	if err != nil {
		return nil, err
	}

	items := informer.GetStore().List()
	if len(items) != expect {
		return nil, fmt.Errorf("the cache holds %d ConfigMaps in %s, expected %d",
			len(items), namespace, expect)
	}
	for _, item := range items {
		if cm, ok := item.(*corev1.ConfigMap); !ok || len(cm.ManagedFields) != 0 {
			return nil, fmt.Errorf("cached object %T still has managedFields", item)
		}
	}
	// client-go's default since v0.35 (feature WatchListClient): one watch that streams the
	// objects (sendInitialEvents=true), falling back to a list if the server refuses it.
	// KUBE_FEATURE_WatchListClient=false in the environment makes it list, as botsec does.
	initial := "list"
	if clientfeatures.FeatureGates().Enabled(clientfeatures.WatchListClient) {
		initial = "watch-list"
	}
	res := &result{
		Peer:               "client-go " + clientGoVersion(),
		Objects:            len(items),
		SyncSeconds:        seconds,
		RSSBytesPerObject:  float64(after-before) / float64(len(items)),
		HeapBytesPerObject: (float64(heapAfter) - float64(heapBefore)) / float64(len(items)),
		RSSBeforeBytes:     before,
		RSSAfterBytes:      after,
		InitialSync:        initial,
		ManagedFields:      "stripped by an informers.WithTransform transform",
		GoVersion:          runtime.Version(),
	}
	// Stop the informer, then wait for its goroutines (Shutdown waits for the stop channel).
	cancel()
	factory.Shutdown()
	return res, nil
}

func main() {
	kubeconfig := flag.String("kubeconfig", "build/cluster/kubeconfig", "the cluster to use")
	namespace := flag.String("namespace", "", "the namespace informer_bench seeded")
	expect := flag.Int("expect", 0, "how many ConfigMaps the cache must hold once synced")
	timeout := flag.Duration("timeout", 5*time.Minute, "give up after this long")
	flag.Parse()
	if *namespace == "" || *expect <= 0 {
		fmt.Fprintln(os.Stderr, "bench-peer: --namespace and a positive --expect are required")
		os.Exit(2)
	}
	res, err := run(*kubeconfig, *namespace, *expect, *timeout)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench-peer: %v\n", err)
		os.Exit(1)
	}
	line, err := json.Marshal(res)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench-peer: %v\n", err)
		os.Exit(1)
	}
	fmt.Println(string(line))
}
