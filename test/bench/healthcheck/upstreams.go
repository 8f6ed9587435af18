package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/chancery-xds/chancery/storage/embedetcd"
)

// world is what the child process serves: an etcd and the endpoints.
type world struct {
	Etcd string   `json:"etcd"`
	HTTP []string `json:"http"` // answer GET /healthz with 200
	TCP  []string `json:"tcp"`  // accept and close
}

// serveWorld is the child: an embedded etcd and n loopback listeners, half
// HTTP and half TCP, in a process of their own so that the leader's CPU and
// memory are measured alone. It reports the addresses as one JSON line on
// stdout and runs until stdin closes (the parent exits or dies).
func serveWorld(n int, dir string) error {
	e, err := embedetcd.Start(embedetcd.Config{
		DataDir: dir, ClientURL: "http://" + freeAddr(), PeerURL: "http://" + freeAddr(), Logger: zap.NewNop(),
	})
	if err != nil {
		return err
	}
	defer e.Close()
	w := world{Etcd: e.Endpoint()}
	health := http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) { rw.WriteHeader(http.StatusOK) })
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("listener %d of %d: %w", i+1, n, err)
		}
		if i%2 == 0 {
			srv := &http.Server{Handler: health, ReadHeaderTimeout: 5 * time.Second}
			go srv.Serve(ln) // ends with the process
			w.HTTP = append(w.HTTP, ln.Addr().String())
		} else {
			go acceptAndClose(ln)
			w.TCP = append(w.TCP, ln.Addr().String())
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(w); err != nil {
		return err
	}
	if _, err := io.Copy(io.Discard, bufio.NewReader(os.Stdin)); err != nil && !errors.Is(err, os.ErrClosed) {
		return err
	}
	return nil
}

func acceptAndClose(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "127.0.0.1:0"
	}
	defer ln.Close()
	return ln.Addr().String()
}
