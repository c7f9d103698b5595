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

func once(n int, pinned bool) float64 {
	ping := make(chan int)
	pong := make(chan int)
	result := make(chan float64)
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
		for i := 1; i < n; i++ {
			ping <- i
			<-pong
		}
		result <- float64(time.Since(t0).Nanoseconds()) / float64(2*(n-1))
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
	var plain, pinned []float64
	for r := 0; r < reps; r++ {
		plain = append(plain, once(n, false))
		pinned = append(pinned, once(n, true))
	}
	fmt.Printf("go_unbuffered_chan_ns: %.0f ns\n", median(plain))
	fmt.Printf("go_pinned_unbuffered_chan_ns: %.0f ns\n", median(pinned))
}
