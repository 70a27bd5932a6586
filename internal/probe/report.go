package probe

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Recorder keeps every request of a run, from any goroutine.
type Recorder struct {
	mu   sync.Mutex
	reqs []Request
}

// Add records r.
func (rec *Recorder) Add(r ...Request) {
	rec.mu.Lock()
	rec.reqs = append(rec.reqs, r...)
	rec.mu.Unlock()
}

// Requests are the recorded requests in the order they started.
func (rec *Recorder) Requests() []Request {
	rec.mu.Lock()
	out := append([]Request(nil), rec.reqs...)
	rec.mu.Unlock()
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out
}

// Load is how hard the probe works a Harbor.
type Load struct {
	// Workers each run rounds (push, pull, API), pausing Pause between
	// a worker's rounds.
	Workers int
	Pause   time.Duration
	// WriteEvery is the pause between the writer's API writes, beside
	// the workers (0: no writer). A push takes about a second, too
	// coarse a measure of when writes are back; an API write is short.
	WriteEvery time.Duration
}

// DrillLoad is the probe of the drills (doctor's and the real-node
// tests'): two workers and a writer.
var DrillLoad = Load{Workers: 2, Pause: 200 * time.Millisecond, WriteEvery: 200 * time.Millisecond}

// Loop works Harbor under l until ctx is done and records each request.
func (p *Probe) Loop(ctx context.Context, l Load, rec *Recorder) {
	var wg sync.WaitGroup
	loop := func(pause time.Duration, once func(context.Context) []Request) {
		defer wg.Done()
		for ctx.Err() == nil {
			for _, r := range once(ctx) {
				if ctx.Err() == nil || !r.Failed() { // a request cut by the end is not a failure
					rec.Add(r)
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(pause):
			}
		}
	}
	for range max(l.Workers, 1) {
		wg.Add(1)
		go loop(l.Pause, p.Round)
	}
	if l.WriteEvery > 0 {
		wg.Add(1)
		go loop(l.WriteEvery, func(ctx context.Context) []Request { return []Request{p.Write(ctx)} })
	}
	wg.Wait()
}

// Figures are what a fault cost, from the requests made while it lasted.
type Figures struct {
	Requests       int            `json:"requests"`
	FailedRequests int            `json:"failedRequests"`
	ByKind         map[Kind]Tally `json:"byKind"`
	// LongestFailureRun is the most consecutive failed requests (in start
	// order) and the seconds from the first's start to the last's end.
	LongestFailureRun        int     `json:"longestFailureRun"`
	LongestFailureRunSeconds float64 `json:"longestFailureRunSeconds"`
	// RecoveredSeconds is from the fault to the end of the first write
	// (a push or an API write) that succeeded after every write that
	// failed since the fault (one in flight at the fault included) had
	// ended; 0 when no write failed, -1 when writes never came back.
	RecoveredSeconds float64 `json:"recoveredSeconds"`
	// DigestsChecked counts pulls whose manifest and blobs matched what
	// was pushed.
	DigestsChecked int `json:"digestsChecked"`
	// Errors are the distinct error lines, most frequent first (at most 5).
	Errors []string `json:"errors,omitempty"`
}

// Tally is made and failed requests of one kind.
type Tally struct {
	Requests int `json:"requests"`
	Failed   int `json:"failed"`
}

// Summarize computes the figures of reqs (in start order) for a fault at
// fault.
func Summarize(reqs []Request, fault time.Time) Figures {
	f := Figures{ByKind: map[Kind]Tally{}}
	errs := map[string]int{}
	run, runStart := 0, time.Time{}
	lastFailedWrite := time.Time{} // the latest end of a failed write
	for _, r := range reqs {
		t := f.ByKind[r.Kind]
		t.Requests++
		f.Requests++
		if r.Failed() {
			t.Failed++
			f.FailedRequests++
			errs[r.Err]++
			if run == 0 {
				runStart = r.Start
			}
			run++
			if run > f.LongestFailureRun {
				f.LongestFailureRun = run
				f.LongestFailureRunSeconds = r.Start.Add(r.Duration).Sub(runStart).Seconds()
			}
			// One in flight at the fault that failed is the fault's.
			if end := r.Start.Add(r.Duration); r.Kind.Writes() && !end.Before(fault) && end.After(lastFailedWrite) {
				lastFailedWrite = end
			}
		} else {
			run = 0
			if r.Kind == Pull {
				f.DigestsChecked++
			}
		}
		f.ByKind[r.Kind] = t
	}
	f.RecoveredSeconds = recovered(reqs, fault, lastFailedWrite)
	f.Errors = topErrors(errs, 5)
	return f
}

// recovered: seconds from fault to the first end of a successful write
// after the last failed one ended (one held through the failures
// included; a short API write may end before a push that started
// earlier).
func recovered(reqs []Request, fault, lastFailedWrite time.Time) float64 {
	if lastFailedWrite.IsZero() {
		return 0
	}
	end, ok := FirstEndAfter(reqs, lastFailedWrite, Kind.Writes)
	if !ok {
		return -1
	}
	return end.Sub(fault).Seconds()
}

// FirstEndAfter is the earliest end, after t, of a successful request of
// a kind counted, whenever it started (one held through a fault
// included); ok is false when there is none.
func FirstEndAfter(reqs []Request, t time.Time, counted func(Kind) bool) (first time.Time, ok bool) {
	for _, r := range reqs {
		end := r.Start.Add(r.Duration)
		if counted(r.Kind) && !r.Failed() && end.After(t) && (!ok || end.Before(first)) {
			first, ok = end, true
		}
	}
	return first, ok
}

func topErrors(errs map[string]int, n int) []string {
	out := make([]string, 0, len(errs))
	for e := range errs {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool {
		if errs[out[i]] != errs[out[j]] {
			return errs[out[i]] > errs[out[j]]
		}
		return out[i] < out[j]
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}
