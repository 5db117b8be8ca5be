//go:build linux

package process_test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"time"
)

// toolArg makes the test binary a small program that containers run
// (runTool), where a shell has no sockets.
const toolArg = "process-test-tool"

// runTool runs one tool:
//
//	listen ADDR  accepts connections on ADDR and writes "hello from HOST\n" to each
//	dial ADDR    prints the first line read from ADDR; exits 1 if it cannot connect
func runTool(args []string) int {
	if len(args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: listen|dial ADDR")
		return 2
	}
	switch args[0] {
	case "listen":
		ln, err := net.Listen("tcp", args[1])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		host, _ := os.Hostname()
		fmt.Println("listening")
		for {
			conn, err := ln.Accept()
			if err != nil {
				return 1
			}
			fmt.Fprintf(conn, "hello from %s\n", host)
			conn.Close()
		}
	case "dial":
		conn, err := net.DialTimeout("tcp", args[1], 10*time.Second)
		if err != nil {
			fmt.Println(err)
			return 1
		}
		defer conn.Close()
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil {
			fmt.Println(err)
			return 1
		}
		fmt.Print(line)
		return 0
	}
	return 2
}
