package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-go/sluice/ctxutil"
)

// The payment gateway and the inventory service are simulated in-process so that the example runs with one
// command. Each listens on a real loopback port, so the service talks to them over a real network stack, and
// each has fault injection so that a user can watch the breaker, the pool and the outbox at work.

// paymentGateway is a fake card processor: POST /charges {"order_id": "...", "amount_cents": 123}.
type paymentGateway struct {
	Faults       Faults
	srv          *http.Server
	ln           net.Listener
	charges      atomic.Int64
	calls        atomic.Int64 // charge requests received, whatever became of them
	inFlight     atomic.Int64 // charges being processed
	lastDeadline atomic.Int64 // the Grpc-Timeout of the last charge, in nanoseconds; 0 when none
}

type chargeRequest struct {
	OrderID     string `json:"order_id"`
	AmountCents int64  `json:"amount_cents"`
}

type chargeResponse struct {
	ChargeID string `json:"charge_id"`
}

func startPaymentGateway(addr string) (*paymentGateway, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("payment gateway: %w", err)
	}
	g := &paymentGateway{ln: ln}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /charges", g.charge)
	// The gateway honours the caller's deadline like any service built with ctxutil.
	mw, err := ctxutil.Middleware(ctxutil.WithMaxTimeout(30 * time.Second))
	if err != nil {
		return nil, err
	}
	g.srv = &http.Server{Handler: mw(mux), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = g.srv.Serve(ln) }()
	return g, nil
}

// URL is the gateway's base URL.
func (g *paymentGateway) URL() string { return "http://" + g.ln.Addr().String() }

// LastDeadline is the time the last charge request had left according to its timeout header.
func (g *paymentGateway) LastDeadline() time.Duration { return time.Duration(g.lastDeadline.Load()) }

// InFlight is how many charges the gateway is processing right now.
func (g *paymentGateway) InFlight() int64 { return g.inFlight.Load() }

// Calls is how many charge requests reached the gateway, failed ones included.
func (g *paymentGateway) Calls() int64 { return g.calls.Load() }

func (g *paymentGateway) charge(w http.ResponseWriter, r *http.Request) {
	g.calls.Add(1)
	g.inFlight.Add(1)
	defer g.inFlight.Add(-1)
	if d, err := ctxutil.ParseTimeout(r.Header.Get(ctxutil.HeaderTimeout)); err == nil {
		g.lastDeadline.Store(int64(d))
	} else {
		g.lastDeadline.Store(0)
	}
	var req chargeRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil || req.AmountCents <= 0 {
		http.Error(w, "bad charge", http.StatusBadRequest)
		return
	}
	if err := g.Faults.Apply(r.Context()); err != nil {
		if r.Context().Err() != nil {
			// The caller's deadline, which it sent in Grpc-Timeout, has passed.
			http.Error(w, "deadline exceeded", http.StatusGatewayTimeout)
			return
		}
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	n := g.charges.Add(1)
	writeJSON(w, http.StatusCreated, chargeResponse{ChargeID: "ch_" + strconv.FormatInt(n, 10)})
}

func (g *paymentGateway) Close(ctx context.Context) error { return g.srv.Shutdown(ctx) }

// inventoryService is a fake stock service speaking a line protocol over long-lived TCP connections, the kind
// of dependency a connection pool exists for:
//
//	RESERVE <sku> <qty> <order-id>\n  ->  OK\n | ERR out_of_stock\n | ERR unavailable\n
//	RELEASE <sku> <qty> <order-id>\n  ->  OK\n (gives back a reservation whose order failed)
//	PING\n                            ->  PONG\n
type inventoryService struct {
	Faults Faults
	ln     net.Listener

	mu    sync.Mutex            // guards stock and conns
	stock map[string]int        // units on hand per SKU
	conns map[net.Conn]struct{} // open connections, closed on Close

	accepted atomic.Int64 // connections accepted, to show pooling at work
	wg       sync.WaitGroup
}

func startInventory(addr string, stock map[string]int) (*inventoryService, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	s := &inventoryService{ln: ln, stock: stock, conns: make(map[net.Conn]struct{})}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr is the service's TCP address.
func (s *inventoryService) Addr() string { return s.ln.Addr().String() }

// Connections is how many connections the service has accepted so far.
func (s *inventoryService) Connections() int64 { return s.accepted.Load() }

// Stock returns the units on hand of sku.
func (s *inventoryService) Stock(sku string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stock[sku]
}

func (s *inventoryService) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.accepted.Add(1)
		s.wg.Add(1)
		go s.serve(c)
	}
}

func (s *inventoryService) serve(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		if s.Faults.Get().Outage {
			return // an outage drops connections: the pool must notice and replace them
		}
		reply := s.handle(strings.Fields(line))
		if _, err := c.Write([]byte(reply + "\n")); err != nil {
			return
		}
	}
}

func (s *inventoryService) handle(f []string) string {
	switch {
	case len(f) == 1 && f[0] == "PING":
		return "PONG"
	case len(f) == 4 && f[0] == "RESERVE":
		qty, err := strconv.Atoi(f[2])
		if err != nil || qty <= 0 {
			return "ERR bad_request"
		}
		if err := s.Faults.Apply(context.Background()); err != nil {
			return "ERR unavailable"
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.stock[f[1]] < qty {
			return "ERR out_of_stock"
		}
		s.stock[f[1]] -= qty
		return "OK"
	case len(f) == 4 && f[0] == "RELEASE":
		qty, err := strconv.Atoi(f[2])
		if err != nil || qty <= 0 {
			return "ERR bad_request"
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.stock[f[1]] += qty
		return "OK"
	}
	return "ERR bad_request"
}

func (s *inventoryService) Close() error {
	err := s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
