"""Live pipeline: capture -> inference -> output threads, their queues and the Controller that owns them."""
