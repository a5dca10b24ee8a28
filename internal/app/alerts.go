package app

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/airgw/airgw/internal/budget"
	"github.com/airgw/airgw/internal/config"
	"github.com/airgw/airgw/internal/webhook"
)

// webhookNotifier sends budget alerts to alerts.webhook.
type webhookNotifier struct {
	s *webhook.Sender
}

var _ budget.Notifier = (*webhookNotifier)(nil)

func newWebhookNotifier(w *config.Webhook, log *slog.Logger) *webhookNotifier {
	return &webhookNotifier{s: webhook.New(webhook.Options{
		URL:     w.URL,
		Secret:  []byte(w.Secret.Value()),
		Timeout: time.Duration(w.Timeout),
		Retries: w.Retries,
		Client:  httpClient(w.AllowPrivateNetwork, 5*time.Second, false),
		Logger:  log,
	})}
}

// Notify queues the alert; it never blocks.
func (n *webhookNotifier) Notify(a budget.Alert) {
	body, err := json.Marshal(a)
	if err != nil {
		return
	}
	n.s.Enqueue(body)
}

func (n *webhookNotifier) run(ctx context.Context) { n.s.Run(ctx) }
