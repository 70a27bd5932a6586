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

// Loop runs rounds with workers goroutines until ctx is done, pausing
// pause between a worker's rounds, and records each request.
func (p *Probe) Loop(ctx context.Context, workers int, pause time.Duration, rec *Recorder) {
	var wg sync.WaitGroup
	for range max(workers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				for _, r := range p.Round(ctx) {
					if ctx.Err() == nil || !r.Failed() { // a request cut by the end is not a failure
						rec.Add(r)
					}
				}
				select {
				case <-ctx.Done():
				case <-time.After(pause):
				}
			}
		}()
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
	// RecoveredSeconds is from the fault to the end of the first push that
	// succeeded after every push that failed since the fault; 0 when no
	// write failed, -1 when writes never came back.
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
	lastFailedPush := time.Time{}
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
			if r.Kind == Push && !r.Start.Before(fault) {
				lastFailedPush = r.Start
			}
		} else {
			run = 0
			if r.Kind == Pull {
				f.DigestsChecked++
			}
		}
		f.ByKind[r.Kind] = t
	}
	f.RecoveredSeconds = recovered(reqs, fault, lastFailedPush)
	f.Errors = topErrors(errs, 5)
	return f
}

// recovered: seconds from fault to the end of the first successful push
// that started after the last failed one.
func recovered(reqs []Request, fault, lastFailedPush time.Time) float64 {
	if lastFailedPush.IsZero() {
		return 0
	}
	for _, r := range reqs {
		if r.Kind == Push && !r.Failed() && r.Start.After(lastFailedPush) {
			return r.Start.Add(r.Duration).Sub(fault).Seconds()
		}
	}
	return -1
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
