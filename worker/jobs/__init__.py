"""The job side: the Celery app, its tasks, the reaper and the training process. It changes
state only through the store (`app.store`) and never imports the HTTP side."""
