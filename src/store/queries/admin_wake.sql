select herald.wake()
