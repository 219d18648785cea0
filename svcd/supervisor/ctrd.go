package supervisor

import (
	"context"
	"time"

	"github.com/keel-os/keel/svcd/api"
	"github.com/keel-os/keel/svcd/runner"
)

// startContainerd starts containerd as a restarted child (or adopts the one
// already running) and waits until it answers.
func (s *Supervisor) startContainerd(ctx context.Context, adopting bool) (ServiceRunners, error) {
	r, err := s.cfg.Runners.Containerd(adopting)
	if err != nil {
		return nil, err
	}
	begin := time.Now()
	rn := s.start(ctx, ContainerdName, api.PhaseSystem,
		runner.WithRestart(r, runner.Policy{Mode: runner.RestartAlways}, s.cfg.Backoff))
	s.mu.Lock()
	s.containerd = rn
	s.mu.Unlock()

	client, err := s.cfg.Runners.Connect(ctx)
	if err != nil {
		return nil, err
	}
	s.logf("containerd ready in %.2fs", time.Since(begin).Seconds())
	s.table.Mark(ContainerdName, api.PhaseSystem, "ready")
	s.mu.Lock()
	s.client = client
	s.mu.Unlock()
	return client, nil
}
