// Command clientgo records a conformance scenario through client-go's stock event recorders.
//
// The scenario (a JSON file, see tests/e2e/clientgo.py) is a list of steps: events to record,
// waits for the broadcaster to drain, plain sleeps (which let it catch up without recording a
// drain sentinel), steps of the correlator's clock, pauses for the test to act between steps,
// and an early shutdown. In "record" mode the events go through tools/record (an
// EventBroadcaster started with StartRecordingToSink on the typed core/v1 EventSinkImpl); in
// "events" mode through tools/events (events.k8s.io/v1). The sinks are client-go's own, wrapped
// only to see when a drain sentinel reaches them. Progress is written to stdout as JSON lines.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/tools/record"
	testingclock "k8s.io/utils/clock/testing"
)

// drainComponent is the source of the sentinel events a drain records; they never reach the API.
const drainComponent = "conformance-drain"

// quietPeriod is how long the events.k8s.io sink must stay idle for a drain to end: tools/events
// hands every event to a goroutine of its own, so no sentinel can come last.
const quietPeriod = 500 * time.Millisecond

type script struct {
	Mode          string        `json:"mode"`
	UserAgent     string        `json:"userAgent"`
	FakeClock     bool          `json:"fakeClock"`
	SleepSeconds  float64       `json:"sleepSeconds"`
	Recorders     []recorderDef `json:"recorders"`
	Steps         []step        `json:"steps"`
	ShutdownGrace float64       `json:"shutdownGrace"`
}

type recorderDef struct {
	Component string `json:"component"`
	Host      string `json:"host"`
}

type step struct {
	Op          string                  `json:"op"`
	Recorder    int                     `json:"recorder"`
	Object      *corev1.ObjectReference `json:"object"`
	Related     *corev1.ObjectReference `json:"related"`
	Type        string                  `json:"type"`
	Reason      string                  `json:"reason"`
	Action      string                  `json:"action"`
	Message     string                  `json:"message"`
	Annotations map[string]string       `json:"annotations"`
	Repeat      int                     `json:"repeat"`
	Seconds     float64                 `json:"seconds"`
	Label       string                  `json:"label"`
}

// tracker counts what the sinks were asked to do and notices the drain sentinels.
type tracker struct {
	mu       sync.Mutex
	calls    map[string]int
	inFlight int
	last     time.Time
	drained  chan string
}

func newTracker() *tracker {
	return &tracker{calls: map[string]int{}, last: time.Now(), drained: make(chan string, 16)}
}

func (t *tracker) begin(verb string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.calls[verb]++
	t.inFlight++
	t.last = time.Now()
}

func (t *tracker) end(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.inFlight--
	t.last = time.Now()
	if err != nil {
		t.calls["error"]++
	}
}

func (t *tracker) quiet() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.inFlight == 0 && time.Since(t.last) >= quietPeriod
}

// coreSink is client-go's typed core/v1 EventSinkImpl, counting calls and catching sentinels.
type coreSink struct {
	inner *typedcorev1.EventSinkImpl
	t     *tracker
}

func (s *coreSink) Create(event *corev1.Event) (*corev1.Event, error) {
	if event.Source.Component == drainComponent {
		s.t.drained <- event.InvolvedObject.Name
		return event, nil
	}
	s.t.begin("create")
	created, err := s.inner.Create(event)
	s.t.end(err)
	return created, err
}

func (s *coreSink) Update(event *corev1.Event) (*corev1.Event, error) {
	s.t.begin("update")
	updated, err := s.inner.Update(event)
	s.t.end(err)
	return updated, err
}

func (s *coreSink) Patch(event *corev1.Event, data []byte) (*corev1.Event, error) {
	if event.Source.Component == drainComponent {
		s.t.drained <- event.InvolvedObject.Name
		return event, nil
	}
	s.t.begin("patch")
	patched, err := s.inner.Patch(event, data)
	s.t.end(err)
	return patched, err
}

// eventsSink is client-go's events.k8s.io/v1 EventSinkImpl, counting calls.
type eventsSink struct {
	inner *events.EventSinkImpl
	t     *tracker
}

func (s *eventsSink) Create(ctx context.Context, event *eventsv1.Event) (*eventsv1.Event, error) {
	s.t.begin("create")
	created, err := s.inner.Create(ctx, event)
	s.t.end(err)
	return created, err
}

func (s *eventsSink) Update(ctx context.Context, event *eventsv1.Event) (*eventsv1.Event, error) {
	s.t.begin("update")
	updated, err := s.inner.Update(ctx, event)
	s.t.end(err)
	return updated, err
}

func (s *eventsSink) Patch(ctx context.Context, event *eventsv1.Event, data []byte) (*eventsv1.Event, error) {
	s.t.begin("patch")
	patched, err := s.inner.Patch(ctx, event, data)
	s.t.end(err)
	return patched, err
}

func emit(fields map[string]any) {
	line, _ := json.Marshal(fields)
	fmt.Println(string(line))
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "clientgo: "+format+"\n", args...)
	os.Exit(2)
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the cluster")
	scriptPath := flag.String("script", "", "the scenario, as JSON")
	flag.Parse()

	data, err := os.ReadFile(*scriptPath)
	if err != nil {
		fail("read script: %v", err)
	}
	var sc script
	if err := json.Unmarshal(data, &sc); err != nil {
		fail("parse script: %v", err)
	}
	config, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fail("kubeconfig: %v", err)
	}
	config.UserAgent = sc.UserAgent
	config.QPS, config.Burst = -1, 0 // no client-side throttling: the recorder's own pace
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		fail("client: %v", err)
	}
	stdin := bufio.NewScanner(os.Stdin)
	t := newTracker()
	switch sc.Mode {
	case "record":
		runRecord(&sc, client, t, stdin)
	case "events":
		runEvents(&sc, client, t, stdin)
	default:
		fail("unknown mode %q", sc.Mode)
	}
	t.mu.Lock()
	emit(map[string]any{"done": true, "calls": t.calls})
	t.mu.Unlock()
}

func pause(label string, stdin *bufio.Scanner) {
	emit(map[string]any{"paused": label})
	if !stdin.Scan() {
		fail("stdin closed during pause %q", label)
	}
}

func sleepDuration(sc *script) time.Duration {
	if sc.SleepSeconds > 0 {
		return time.Duration(sc.SleepSeconds * float64(time.Second))
	}
	return 10 * time.Second
}

func runRecord(sc *script, client kubernetes.Interface, t *tracker, stdin *bufio.Scanner) {
	var fake *testingclock.FakeClock
	options := record.CorrelatorOptions{}
	if sc.FakeClock {
		fake = testingclock.NewFakeClock(time.Now())
		options.Clock = fake
	}
	broadcaster := record.NewBroadcaster(
		record.WithCorrelatorOptions(options),
		record.WithSleepDuration(sleepDuration(sc)),
	)
	sink := &coreSink{inner: &typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")}, t: t}
	broadcaster.StartRecordingToSink(sink)
	recorders := make([]record.EventRecorder, len(sc.Recorders))
	for i, def := range sc.Recorders {
		recorders[i] = broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: def.Component, Host: def.Host})
	}
	sentinels := broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: drainComponent})
	// A sentinel may be dropped like any event when the broadcaster's queue is full: send
	// another each second until one arrives; any sentinel of this drain proves it.
	drains := 0
	drain := func() {
		drains++
		prefix := fmt.Sprintf("drain-%d-", drains)
		for try := 0; ; try++ {
			name := fmt.Sprintf("%s%d", prefix, try)
			ref := &corev1.ObjectReference{Kind: "Drain", APIVersion: "v1", Name: name}
			sentinels.Event(ref, corev1.EventTypeNormal, "Drain", name)
			timeout := time.After(time.Second)
			for waiting := true; waiting; {
				select {
				case got := <-t.drained:
					if strings.HasPrefix(got, prefix) {
						return
					}
				case <-timeout:
					waiting = false
				}
			}
		}
	}
	for _, st := range sc.Steps {
		switch st.Op {
		case "event":
			rec := recorders[st.Recorder]
			for range max(st.Repeat, 1) {
				if st.Annotations != nil {
					rec.AnnotatedEventf(st.Object, st.Annotations, st.Type, st.Reason, "%s", st.Message)
				} else {
					rec.Event(st.Object, st.Type, st.Reason, st.Message)
				}
			}
		case "drain":
			drain()
		case "advance":
			if fake == nil {
				fail("advance needs fakeClock")
			}
			fake.Step(time.Duration(st.Seconds * float64(time.Second)))
		case "sleep":
			time.Sleep(time.Duration(st.Seconds * float64(time.Second)))
		case "pause":
			pause(st.Label, stdin)
		case "shutdown":
			broadcaster.Shutdown()
			time.Sleep(time.Duration(sc.ShutdownGrace * float64(time.Second)))
			return
		default:
			fail("unknown step %q", st.Op)
		}
	}
	drain()
	broadcaster.Shutdown()
}

func runEvents(sc *script, client kubernetes.Interface, t *tracker, stdin *bufio.Scanner) {
	sink := &eventsSink{inner: &events.EventSinkImpl{Interface: client.EventsV1()}, t: t}
	broadcaster := events.NewBroadcaster(sink)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := broadcaster.StartRecordingToSinkWithContext(ctx); err != nil {
		fail("start: %v", err)
	}
	recorders := make([]events.EventRecorder, len(sc.Recorders))
	for i, def := range sc.Recorders {
		recorders[i] = broadcaster.NewRecorder(scheme.Scheme, def.Component)
	}
	drain := func() {
		time.Sleep(quietPeriod)
		for !t.quiet() {
			time.Sleep(50 * time.Millisecond)
		}
	}
	for _, st := range sc.Steps {
		switch st.Op {
		case "event":
			var related runtime.Object
			if st.Related != nil {
				related = st.Related
			}
			action := st.Action
			if action == "" {
				action = st.Reason
			}
			for range max(st.Repeat, 1) {
				recorders[st.Recorder].Eventf(st.Object, related, st.Type, st.Reason, action, "%s", st.Message)
			}
		case "drain":
			drain()
		case "sleep":
			time.Sleep(time.Duration(st.Seconds * float64(time.Second)))
		case "pause":
			pause(st.Label, stdin)
		case "shutdown":
			broadcaster.Shutdown()
			time.Sleep(time.Duration(sc.ShutdownGrace * float64(time.Second)))
			return
		default:
			fail("unknown step %q", st.Op)
		}
	}
	drain()
	broadcaster.Shutdown()
}
