// Command policy-peer is the peer of bench/policy/judge_bench: upstream's Pod Security Admission
// evaluator (k8s.io/pod-security-admission), timed the way judge_bench times botsec's policy
// engine. For each pod JSON file it is given, it prints one JSON line on stdout:
//
//	{"peer":"pod-security-admission v0.37.2","pod":"bot-typical.json","allowed":true,...}
//
// Usage:
//
//	policy-peer [--seconds S] POD.json...
//
// What one evaluation is: what the admission plugin does on enforce (admission.go, EvaluatePod):
// policy.AggregateCheckResults(evaluator.EvaluatePod(restricted:v1.37, &pod.ObjectMeta,
// &pod.Spec)) and, when the pod is denied, result.ForbiddenDetail() for the message. The
// evaluator is built once (policy.NewEvaluator(policy.DefaultChecks(), nil)), as the plugin
// builds it once at start-up, and so is the typed corev1.Pod: each file is decoded once, before
// the clock starts. judge_bench judges an already-parsed JSON document, so neither side times
// parsing there. The row "+decode" times decoding the raw bytes into a corev1.Pod
// (sigs.k8s.io/json.UnmarshalCaseSensitivePreserveInts, the decoder apimachinery's JSON
// serializer uses) and then the same evaluation, against judge_bench's row that parses the raw
// bytes with nlohmann::json before judging.
//
// Timing, matching judge_bench: GOMAXPROCS=1 (one core, the garbage collector included), the
// process's CPU time (getrusage: user + system, all its threads), a warm-up of a tenth of the
// time, then five timed parts of batches, --seconds in all; ns_per_op is the median of the parts'
// CPU time over their evaluations (ns_per_op_min and _max the bounds). allocs_per_op and
// bytes_per_op are the differences of runtime.MemStats Mallocs and TotalAlloc over the timed
// parts, divided by the evaluations.
//
// Diagnostics go to stderr; on failure it exits 1 with one line saying why.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"syscall"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	kjson "sigs.k8s.io/json"
)

// The level and version judge_bench's pss-restricted profile implements.
var restricted = api.LevelVersion{Level: api.LevelRestricted, Version: api.MajorMinorVersion(1, 37)}

type timing struct {
	Evaluations  int64   `json:"evaluations"`
	Seconds      float64 `json:"seconds"`                // CPU time of the timed parts
	PerSecond    float64 `json:"evaluations_per_second"` // 1e9 / ns_per_op
	NsPerOp      float64 `json:"ns_per_op"`              // the median of the timed parts
	NsPerOpMin   float64 `json:"ns_per_op_min"`
	NsPerOpMax   float64 `json:"ns_per_op_max"`
	AllocsPerOp  float64 `json:"allocs_per_op"`
	BytesPerOp   float64 `json:"bytes_per_op"`
	GCsDuringRun uint32  `json:"gcs"`
}

type result struct {
	Peer            string   `json:"peer"`
	Pod             string   `json:"pod"`
	Level           string   `json:"level"`
	Allowed         bool     `json:"allowed"`
	ForbiddenChecks int      `json:"forbidden_checks"`
	ForbiddenDetail string   `json:"forbidden_detail"`
	Evaluate        timing   `json:"evaluate"`
	DecodeEvaluate  timing   `json:"decode_evaluate"`
	ChecksRun       int      `json:"checks_run"`
	Reasons         []string `json:"forbidden_reasons"`
	GoVersion       string   `json:"go_version"`
	GOMAXPROCS      int      `json:"gomaxprocs"`
}

// sink keeps the compiler from dropping the work whose result nothing else reads.
var sink int

// evaluate is one evaluation as the admission plugin does it on enforce.
func evaluate(evaluator policy.Evaluator, pod *corev1.Pod) policy.AggregateCheckResult {
	checks := evaluator.EvaluatePod(restricted, &pod.ObjectMeta, &pod.Spec)
	result := policy.AggregateCheckResults(checks)
	if !result.Allowed {
		sink += len(result.ForbiddenDetail())
	}
	return result
}

// repetitions is how many parts each measurement is timed in; its figure is their median, as
// judge_bench does.
const repetitions = 5

// cpuSeconds is the CPU time this process has run, user and system, as judge_bench reads it
// (getrusage): time the scheduler gives other processes on a shared machine is not counted. The
// garbage collector's work, on this process's threads, is.
func cpuSeconds() float64 {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		panic(err)
	}
	return float64(usage.Utime.Nano()+usage.Stime.Nano()) / 1e9
}

// measure warms op up for a tenth of `seconds`, sizing its batches to about a millisecond on
// the way so that reading the clock costs nothing, then times `repetitions` runs of batches for
// at least seconds/repetitions of CPU time each and returns the figures of those timed parts.
func measure(seconds float64, op func()) timing {
	batch := int64(1)
	for warm := cpuSeconds(); cpuSeconds()-warm < seconds/10; {
		start := cpuSeconds()
		for i := int64(0); i < batch; i++ {
			op()
		}
		if cpuSeconds()-start < 1e-3 {
			batch *= 2
		}
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var t timing
	ns := make([]float64, repetitions)
	for r := range ns {
		var n int64
		start := cpuSeconds()
		elapsed := 0.0
		for elapsed < seconds/repetitions {
			for i := int64(0); i < batch; i++ {
				op()
			}
			n += batch
			elapsed = cpuSeconds() - start
		}
		ns[r] = elapsed * 1e9 / float64(n)
		t.Evaluations += n
		t.Seconds += elapsed
	}
	runtime.ReadMemStats(&after)
	slices.Sort(ns)
	t.NsPerOp = ns[repetitions/2]
	t.NsPerOpMin = ns[0]
	t.NsPerOpMax = ns[repetitions-1]
	t.PerSecond = 1e9 / t.NsPerOp
	t.AllocsPerOp = float64(after.Mallocs-before.Mallocs) / float64(t.Evaluations)
	t.BytesPerOp = float64(after.TotalAlloc-before.TotalAlloc) / float64(t.Evaluations)
	t.GCsDuringRun = after.NumGC - before.NumGC
	return t
}

// decode reads a pod as the API server's JSON serializer does: case-sensitive field names,
// integers kept as int64.
func decode(raw []byte) (*corev1.Pod, error) {
	pod := &corev1.Pod{}
	if err := kjson.UnmarshalCaseSensitivePreserveInts(raw, pod); err != nil {
		return nil, err
	}
	return pod, nil
}

func moduleVersion(path string) string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == path {
				return dep.Version
			}
		}
	}
	return "(unknown version)"
}

func run(evaluator policy.Evaluator, file string, seconds float64) (*result, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pod, err := decode(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if pod.Kind != "Pod" {
		return nil, fmt.Errorf("%s: kind %q, expected a Pod", file, pod.Kind)
	}
	verdict := evaluate(evaluator, pod)
	res := &result{
		Peer:            "pod-security-admission " + moduleVersion("k8s.io/pod-security-admission"),
		Pod:             filepath.Base(file),
		Level:           restricted.String(),
		Allowed:         verdict.Allowed,
		ForbiddenChecks: len(verdict.ForbiddenReasons),
		ForbiddenDetail: verdict.ForbiddenDetail(),
		ChecksRun:       len(evaluator.EvaluatePod(restricted, &pod.ObjectMeta, &pod.Spec)),
		Reasons:         verdict.ForbiddenReasons,
		GoVersion:       runtime.Version(),
		GOMAXPROCS:      runtime.GOMAXPROCS(0),
	}
	res.Evaluate = measure(seconds, func() { evaluate(evaluator, pod) })
	var decodeErr error
	res.DecodeEvaluate = measure(seconds, func() {
		decoded, err := decode(raw)
		if err != nil {
			decodeErr = err
			return
		}
		evaluate(evaluator, decoded)
	})
	if decodeErr != nil {
		return nil, fmt.Errorf("%s: %w", file, decodeErr)
	}
	return res, nil
}

func main() {
	seconds := flag.Float64("seconds", 1, "time each measurement for at least this long")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: policy-peer [--seconds S] POD.json...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 || *seconds <= 0 {
		flag.Usage()
		os.Exit(2)
	}
	// One core, as judge_bench judges on one thread; the collector shares it.
	runtime.GOMAXPROCS(1)
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		fmt.Fprintf(os.Stderr, "policy-peer: %v\n", err)
		os.Exit(1)
	}
	for _, file := range flag.Args() {
		res, err := run(evaluator, file, *seconds)
		if err != nil {
			fmt.Fprintf(os.Stderr, "policy-peer: %v\n", err)
			os.Exit(1)
		}
		line, err := json.Marshal(res)
		if err != nil {
			fmt.Fprintf(os.Stderr, "policy-peer: %v\n", err)
			os.Exit(1)
		}
		fmt.Println(string(line))
	}
	if sink < 0 {
		fmt.Fprintln(os.Stderr, sink)
	}
}
