package main

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Bounds of the load parameters: a request asks for work, never for the
// node.
const (
	maxSleep = time.Minute
	maxPrime = 50_000_000
	maxBloat = 512 // MiB
)

// load does the work a request asks for with query parameters, like
// Knative's autoscale sample: sleep=MS waits MS milliseconds, prime=N finds
// the largest prime up to N (CPU), bloat=MB holds MB MiB of touched memory
// while the request runs. It reports what it did and returns true when the
// request asked for any; a bad parameter is a 400 naming it.
func load(w http.ResponseWriter, r *http.Request) bool {
	q := r.URL.Query()
	if !q.Has("sleep") && !q.Has("prime") && !q.Has("bloat") {
		return false
	}
	num := func(name string, max int64) (int64, bool) {
		s := q.Get(name)
		if s == "" {
			return 0, true
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 || n > max {
			http.Error(w, fmt.Sprintf("%s=%q: expected 0 to %d", name, s, max), http.StatusBadRequest)
			return 0, false
		}
		return n, true
	}
	sleep, ok1 := num("sleep", maxSleep.Milliseconds())
	if !ok1 {
		return true
	}
	prime, ok2 := num("prime", maxPrime)
	if !ok2 {
		return true
	}
	bloat, ok3 := num("bloat", maxBloat)
	if !ok3 {
		return true
	}
	start := time.Now()
	var held []byte
	if bloat > 0 {
		held = make([]byte, bloat<<20)
		for i := 0; i < len(held); i += 4096 {
			held[i] = 1
		}
	}
	largest := largestPrime(prime)
	time.Sleep(time.Duration(sleep) * time.Millisecond)
	fmt.Fprintf(w, "slept %dms, largest prime up to %d: %d, held %d MiB, in %s\n", sleep, prime, largest, len(held)>>20, time.Since(start).Round(time.Millisecond))
	return true
}

// largestPrime is the largest prime at most n (0 below 2), by a sieve.
func largestPrime(n int64) int64 {
	if n < 2 {
		return 0
	}
	composite := make([]bool, n+1)
	for i := int64(2); i*i <= n; i++ {
		if !composite[i] {
			for j := i * i; j <= n; j += i {
				composite[j] = true
			}
		}
	}
	for i := n; i >= 2; i-- {
		if !composite[i] {
			return i
		}
	}
	return 0
}
