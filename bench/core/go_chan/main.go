// go_chan: Go's peer for bench/core/cross_hub_bench: one-way hand-off latency of an
// unbuffered channel between two goroutines, as a ping-pong (round trip / 2). Run with
// GOMAXPROCS=2 so the two goroutines may sit on two Ps (two OS threads).
//
//	GOMAXPROCS=2 go run bench/core/go_chan/main.go [round_trips]
package main

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"time"
)

func once(n int) float64 {
	ping := make(chan int)
	pong := make(chan int)
	go func() {
		for i := 0; i < n; i++ {
			pong <- <-ping
		}
	}()
	ping <- -1
	<-pong
	t0 := time.Now()
	for i := 1; i < n; i++ {
		ping <- i
		<-pong
	}
	return float64(time.Since(t0).Nanoseconds()) / float64(2*(n-1))
}

func main() {
	n := 200000
	if len(os.Args) > 1 {
		if v, err := strconv.Atoi(os.Args[1]); err == nil && v > 1 {
			n = v
		}
	}
	var runs []float64
	for r := 0; r < 5; r++ {
		runs = append(runs, once(n))
	}
	sort.Float64s(runs)
	fmt.Printf("go_unbuffered_chan_ns: %.0f ns\n", runs[len(runs)/2])
}
