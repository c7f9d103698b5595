// go_chan: Go's peer for bench/core/cross_hub_bench: one-way hand-off latency of an
// unbuffered channel between two goroutines, as a ping-pong (round trip / 2). Run with
// GOMAXPROCS=2 so the two goroutines may sit on two Ps (two OS threads).
//
//	GOMAXPROCS=2 go run bench/core/go_chan/main.go [round_trips] [repetitions]
//
// Prints the median of the repetitions (default 5) of two measurements:
//
//	go_unbuffered_chan_ns         the plain ping-pong: Go's scheduler puts a goroutine
//	                              woken by a send in the sender's P (runnext), so the
//	                              two mostly take turns on one OS thread
//	go_pinned_unbuffered_chan_ns  the same with each goroutine locked to its own OS
//	                              thread (runtime.LockOSThread) and that thread pinned
//	                              to its own core (sched_setaffinity, CPUs 0 and 1):
//	                              every hand-off crosses cores, as between two hubs
package main

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"syscall"
	"time"
	"unsafe"
)

// pinThread locks the calling goroutine to its OS thread and that thread to one CPU.
func pinThread(cpu int) {
	runtime.LockOSThread()
	var mask [16]uint64
	mask[cpu/64] |= 1 << (uint(cpu) % 64)
	syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, 0, uintptr(len(mask)*8), uintptr(unsafe.Pointer(&mask[0])))
}

// One-way ns per hand-off over the whole run, and over the fastest batch of 1,000
// round trips (as cross_hub_bench's _best_batch figures).
type timing struct{ mean, best float64 }

const batch = 1000

func once(n int, pinned bool) timing {
	ping := make(chan int)
	pong := make(chan int)
	result := make(chan timing)
	go func() {
		if pinned {
			pinThread(1)
		}
		for i := 0; i < n; i++ {
			pong <- <-ping
		}
	}()
	go func() {
		if pinned {
			pinThread(0)
		}
		ping <- -1
		<-pong
		t0 := time.Now()
		b0 := t0
		best := time.Duration(1 << 62)
		for i := 1; i < n; i++ {
			ping <- i
			<-pong
			if i%batch == 0 {
				now := time.Now()
				if d := now.Sub(b0); d < best {
					best = d
				}
				b0 = now
			}
		}
		t := timing{mean: float64(time.Since(t0).Nanoseconds()) / float64(2*(n-1))}
		t.best = t.mean
		if n > batch {
			t.best = float64(best.Nanoseconds()) / float64(2*batch)
		}
		result <- t
	}()
	return <-result
}

func median(runs []float64) float64 {
	sort.Float64s(runs)
	return runs[len(runs)/2]
}

func main() {
	n := 200000
	if len(os.Args) > 1 {
		if v, err := strconv.Atoi(os.Args[1]); err == nil && v > 1 {
			n = v
		}
	}
	reps := 5
	if len(os.Args) > 2 {
		if v, err := strconv.Atoi(os.Args[2]); err == nil && v > 0 {
			reps = v
		}
	}
	var plain, pinned, plainBest, pinnedBest []float64
	for r := 0; r < reps; r++ {
		t := once(n, false)
		plain, plainBest = append(plain, t.mean), append(plainBest, t.best)
		t = once(n, true)
		pinned, pinnedBest = append(pinned, t.mean), append(pinnedBest, t.best)
	}
	fmt.Printf("go_unbuffered_chan_ns: %.0f ns\n", median(plain))
	fmt.Printf("go_unbuffered_chan_ns_best_batch: %.0f ns\n", median(plainBest))
	fmt.Printf("go_pinned_unbuffered_chan_ns: %.0f ns\n", median(pinned))
	fmt.Printf("go_pinned_unbuffered_chan_ns_best_batch: %.0f ns\n", median(pinnedBest))
}
