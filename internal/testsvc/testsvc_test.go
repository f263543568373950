package testsvc

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestHostPort(t *testing.T) {
	tests := []struct {
		svc  Service
		in   string
		want string
	}{
		{PostgresService, "postgres://u@db.local:6543/x?sslmode=disable", "db.local:6543"},
		{PostgresService, "postgres://u@db.local/x", "db.local:5432"},
		{MySQLService, "root:pw@tcp(10.0.0.1:3307)/test", "10.0.0.1:3307"},
		{MySQLService, "root@tcp(db)/test", "db:3306"},
		{RedisService, "127.0.0.1:6380", "127.0.0.1:6380"},
		{RedisService, "redis://cache:6390/0", "cache:6390"},
		{RedisService, "cache", "cache:6379"},
		{NATSService, "nats://127.0.0.1", "127.0.0.1:4222"},
		{AMQPService, "amqp://guest:guest@mq:5673/", "mq:5673"},
	}
	for _, tt := range tests {
		got, err := tt.svc.hostPort(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("%s hostPort(%q) = %q, %v; want %q", tt.svc.Name, tt.in, got, err, tt.want)
		}
	}
	if _, err := MySQLService.hostPort("root@/test"); err == nil {
		t.Error("MySQL DSN without tcp() address: want an error")
	}
}

func TestEnvOverride(t *testing.T) {
	t.Setenv(RedisService.Env, "10.1.2.3:7000")
	if got := RedisService.Value(); got != "10.1.2.3:7000" {
		t.Fatalf("Value() = %q, want the environment's value", got)
	}
}

func TestUnreachableSkips(t *testing.T) {
	t.Setenv("SLUICE_REQUIRE_SERVICES", "")
	t.Setenv(RedisService.Env, "127.0.0.1:1") // nothing listens on port 1
	skipped := false
	t.Run("probe", func(t *testing.T) {
		defer func() { skipped = t.Skipped() }()
		Redis(t)
	})
	if !skipped {
		t.Fatal("an unreachable service must skip the test")
	}
}

func TestLocalServices(t *testing.T) {
	// Documents which services this machine offers; each probe skips or fails like any integration test.
	for _, s := range []Service{PostgresService, MySQLService, RedisService, NATSService, AMQPService} {
		t.Run(s.Name, func(t *testing.T) { s.Require(t) })
	}
}

func TestRedisCluster(t *testing.T) {
	start := time.Now()
	c := NewRedisCluster(t)
	t.Logf("3-master cluster up in %s", time.Since(start).Round(time.Millisecond))
	ctx := context.Background()
	cl := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	defer cl.Close()
	shards, err := cl.ClusterShards(ctx).Result()
	if err != nil || len(shards) != 3 {
		t.Fatalf("CLUSTER SHARDS = %d shards, %v; want 3", len(shards), err)
	}
	// Keys land on every master, and each reads back through the cluster client.
	masters := map[string]bool{}
	for i := range 30 {
		key := fmt.Sprint("k", i)
		if err := cl.Set(ctx, key, i, 0).Err(); err != nil {
			t.Fatal(err)
		}
		if v, err := cl.Get(ctx, key).Int(); err != nil || v != i {
			t.Fatalf("Get %s = %d, %v", key, v, err)
		}
		node, err := cl.MasterForKey(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		masters[node.Options().Addr] = true
	}
	if len(masters) != 3 {
		t.Fatalf("30 keys landed on %d masters, want 3", len(masters))
	}
	// A plain client sees the cluster's slot checks.
	plain := redis.NewClient(&redis.Options{Addr: c.Addrs()[0], MaxRetries: -1})
	defer plain.Close()
	if err := plain.MGet(ctx, "k1", "k2").Err(); err == nil || !strings.HasPrefix(err.Error(), "CROSSSLOT") {
		t.Fatalf("MGET of keys in two slots = %v, want CROSSSLOT", err)
	}
	// A moved slot keeps its keys, and the cluster client follows the MOVED reply.
	from, to, err := c.MoveSlot(ctx, "k7")
	if err != nil || from == to {
		t.Fatalf("MoveSlot = %s, %s, %v", from, to, err)
	}
	if v, err := cl.Get(ctx, "k7").Int(); err != nil || v != 7 {
		t.Fatalf("Get after MoveSlot = %d, %v", v, err)
	}
	owner := redis.NewClient(&redis.Options{Addr: to, MaxRetries: -1})
	defer owner.Close()
	if v, err := owner.Get(ctx, "k7").Int(); err != nil || v != 7 {
		t.Fatalf("GET k7 on the new owner %s = %d, %v", to, v, err)
	}
	if _, again, err := c.MoveSlot(ctx, "k7"); err != nil || again == to {
		t.Fatalf("second MoveSlot to %s, %v", again, err)
	}
	if v, err := cl.Get(ctx, "k7").Int(); err != nil || v != 7 {
		t.Fatalf("Get after a second MoveSlot = %d, %v", v, err)
	}
	cl.Close()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.nodes {
		select {
		case <-n.exited:
		default:
			t.Fatalf("node %s still running after Close", n.addr)
		}
	}
	if err := plain.Ping(ctx).Err(); err == nil {
		t.Fatal("a node answers after Close")
	}
}

func TestSharedRedisCluster(t *testing.T) {
	var s SharedRedisCluster
	stopped := false
	m := s.StopAfter(runFunc(func() int {
		c := s.Require(t)
		if again := s.Require(t); again != c {
			t.Error("Require started a second cluster")
		}
		stopped = false
		return 0
	}))
	if code := m.Run(); code != 0 {
		t.Fatalf("Run = %d", code)
	}
	for _, n := range s.c.nodes {
		select {
		case <-n.exited:
			stopped = true
		default:
			t.Fatalf("node %s still running after StopAfter's Run", n.addr)
		}
	}
	if !stopped {
		t.Fatal("no node to check")
	}
	if _, err := os.Stat(s.c.dir); !os.IsNotExist(err) {
		t.Fatalf("cluster directory left behind: %v", err)
	}
}

func TestRedisClusterNoBinary(t *testing.T) {
	t.Setenv("SLUICE_REQUIRE_SERVICES", "")
	t.Setenv(RedisServerEnv, filepath.Join(t.TempDir(), "no-redis-server"))
	skipped := false
	t.Run("probe", func(t *testing.T) {
		defer func() { skipped = t.Skipped() }()
		NewRedisCluster(t)
	})
	if !skipped {
		t.Fatal("a missing redis-server must skip the test")
	}
}
