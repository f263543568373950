package testsvc

import (
	"testing"

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
