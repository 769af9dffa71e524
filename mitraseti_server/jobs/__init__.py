"""Jobs layer: the service behind /analyze and /jobs (``service``), the jobs table
(``store``), the executor and its runner processes (``executor``, ``runner``,
``kernel_pool``), history and retention (``sweeper``) and status webhooks (``webhooks``)."""
