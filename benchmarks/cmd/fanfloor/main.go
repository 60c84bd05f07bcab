//go:build linux

// Command fanfloor measures the kernel's floor under the shared bench's
// fanout scenario: the CPU time of one thread that writes a 130-byte
// message (a 128 B binary WebSocket frame) to each of -conns loopback TCP
// connections with plain write(2), as a broadcasting server must, while
// another process reads them. On loopback the sender's thread also pays
// for delivering each segment to the receiving socket, so this is what a
// copy costs before any WebSocket library runs; compare the bench's server
// CPU µs per delivered copy with it. Linux only; the run is bounded by
// -rounds and stops by itself.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// rusageThread is getrusage's RUSAGE_THREAD: the calling thread only.
const rusageThread = 1

func main() {
	conns := flag.Int("conns", 1000, "connections to write to")
	rounds := flag.Int("rounds", 3000, "messages measured, each written to every connection")
	reader := flag.String("reader", "", "internal: read from this many connections to the address")
	flag.Parse()
	if *reader != "" {
		read(*reader, *conns)
		return
	}
	fds, stop := connect(*conns)
	defer stop()
	perCopy, user := measure(fds, *rounds)
	fmt.Printf("write(2) of 130 B to %d loopback conns: %.2f µs CPU per copy (user %.2f µs) over %d rounds\n",
		*conns, perCopy, user, *rounds)
}

// connect starts the reading process, accepts its connections and returns
// their file descriptors, blocking, and a function that stops the reader.
func connect(n int) ([]int, func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	cmd := exec.Command(os.Args[0], "-reader", ln.Addr().String(), "-conns", fmt.Sprint(n))
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	fds := make([]int, 0, n)
	for range n {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		f, err := c.(*net.TCPConn).File() // a blocking duplicate of the socket
		if err != nil {
			log.Fatal(err)
		}
		fds = append(fds, int(f.Fd()))
	}
	return fds, func() { cmd.Process.Kill(); cmd.Wait() }
}

// measure writes one message to every fd per round, with a pause between
// rounds as the bench has between messages, and returns the writing
// thread's CPU time per copy, in all and in user mode, in microseconds.
func measure(fds []int, rounds int) (float64, float64) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	msg := make([]byte, 130)
	var before, after syscall.Rusage
	const warm = 300
	for r := range rounds + warm {
		if r == warm {
			syscall.Getrusage(rusageThread, &before)
		}
		for _, fd := range fds {
			if _, err := syscall.Write(fd, msg); err != nil {
				log.Fatal(err)
			}
		}
		time.Sleep(200 * time.Microsecond)
	}
	syscall.Getrusage(rusageThread, &after)
	user := after.Utime.Nano() - before.Utime.Nano()
	sys := after.Stime.Nano() - before.Stime.Nano()
	copies := float64(rounds * len(fds))
	return float64(user+sys) / 1e3 / copies, float64(user) / 1e3 / copies
}

// read dials n connections to addr and discards what arrives on them
// until the process is killed.
func read(addr string, n int) {
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			log.Fatal(err)
		}
		go func() {
			buf := make([]byte, 4096)
			for {
				if _, err := c.Read(buf); err != nil {
					return
				}
			}
		}()
	}
	select {}
}
