// Package embeddednats runs an in-process NATS server with JetStream, for tests and the benchmark program.
package embeddednats

import (
	"errors"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Start runs a server with JetStream storing in dir, on port (-1 for a free one), and waits until it accepts
// connections. Stop it with Shutdown and WaitForShutdown.
func Start(dir string, port int) (*server.Server, error) {
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true,
	})
	if err != nil {
		return nil, err
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		s.WaitForShutdown()
		return nil, errors.New("embeddednats: server not ready within 10s")
	}
	return s, nil
}
