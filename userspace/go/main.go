// Conformance (Go): a static Go program, built with CGO_ENABLED=0. Go's runtime is the hardest
// common client of the process model: at start it installs handlers for every signal, sets up
// alternate signal stacks, reserves address space with PROT_NONE mappings, starts several
// threads (clone), parks and wakes them with futexes, preempts long-running goroutines with
// signals (SIGURG through tgkill), and sleeps through timers. This program exercises that with
// goroutines, channels, a sync.WaitGroup, a sync.Mutex under contention, time.Sleep, a
// goroutine that spins without calls (so only asynchronous preemption lets others run while
// GOMAXPROCS is 1), and garbage collection. Only deterministic results are printed.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

var failures int

func expect(label string, got, want interface{}) {
	g, w := fmt.Sprint(got), fmt.Sprint(want)
	if g == w {
		fmt.Printf("%s: %s\n", label, g)
	} else {
		fmt.Printf("%s: %s FAILED: expected %s\n", label, g, w)
		failures++
	}
}

// spin runs a tight loop with no function calls (atomic.LoadInt32 is compiled inline), which
// the runtime can only interrupt with a preemption signal.
func spin(stop *int32) uint64 {
	var n uint64
	for atomic.LoadInt32(stop) == 0 {
		n++
	}
	return n
}

func main() {
	// A pipeline: numbers through three stages of goroutines connected by channels.
	src := make(chan int)
	sq := make(chan int, 8)
	out := make(chan int)
	go func() {
		for i := 1; i <= 1000; i++ {
			src <- i
		}
		close(src)
	}()
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range src {
				sq <- n * n
			}
		}()
	}
	go func() {
		wg.Wait()
		close(sq)
	}()
	go func() {
		total := 0
		for v := range sq {
			total += v
		}
		out <- total
	}()
	expect("sum of squares 1..1000 through a goroutine pipeline", <-out, 333833500)

	// A mutex under contention from 16 goroutines.
	var mu sync.Mutex
	counter := 0
	var wg2 sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg2.Add(1)
		go func() {
			defer wg2.Done()
			for i := 0; i < 5000; i++ {
				mu.Lock()
				counter++
				mu.Unlock()
				if i%500 == 0 {
					runtime.Gosched()
				}
			}
		}()
	}
	wg2.Wait()
	expect("mutex counter after 16 x 5000", counter, 80000)

	// Sleeping: timers wake goroutines no earlier than asked.
	start := time.Now()
	var wg3 sync.WaitGroup
	woke := make([]bool, 5)
	for i := 0; i < 5; i++ {
		wg3.Add(1)
		go func(i int) {
			defer wg3.Done()
			d := time.Duration(10*(i+1)) * time.Millisecond
			t := time.Now()
			time.Sleep(d)
			woke[i] = time.Since(t) >= d
		}(i)
	}
	wg3.Wait()
	expect("5 sleeping goroutines each slept at least as asked", fmt.Sprint(woke), "[true true true true true]")
	expect("the whole took at least 50 ms", time.Since(start) >= 50*time.Millisecond, true)

	// Asynchronous preemption: with one P, a spinning goroutine must be preempted for main to
	// run again and stop it.
	prev := runtime.GOMAXPROCS(1)
	var stop int32
	done := make(chan uint64)
	go func() {
		done <- spin(&stop)
	}()
	// The sleeping main goroutine can only run again if the spinner is preempted.
	time.Sleep(20 * time.Millisecond)
	atomic.StoreInt32(&stop, 1)
	expect("main ran while a call-free goroutine spun (GOMAXPROCS 1), which then stopped", <-done > 0, true)
	runtime.GOMAXPROCS(prev)

	// Garbage: allocate and drop a few hundred megabytes in total.
	var keep [][]byte
	for i := 0; i < 300; i++ {
		b := make([]byte, 1<<20)
		b[i%len(b)] = byte(i)
		if i%50 == 0 {
			keep = append(keep, b)
		}
	}
	runtime.GC()
	expect("kept buffers after GC", len(keep), 6)
	sum := 0
	for i, b := range keep {
		sum += int(b[(i*50)%len(b)])
	}
	expect("their contents", sum, 0+50+100+150+200+250)

	if failures == 0 {
		fmt.Println("go-goroutines: ok")
	} else {
		fmt.Printf("go-goroutines: %d checks FAILED\n", failures)
		os.Exit(1)
	}
}
