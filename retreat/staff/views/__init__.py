"""Staff console views; each module adds routes to the staff blueprint."""
