//! Client edits (create, change, delete, add and revoke keys), through the one edit path,
//! and the views the admin API shows.

use switchboard_store::{Backend, DEFAULT_CLIENT};

use crate::Control;
use crate::clients::{
    ClientInput, ClientView, LoggedSpend, NewClientSecret, new_key, period_starts, validate_name,
};
use crate::error::ControlError;

impl Control {
    /// Every client, with its keys (fingerprints only) and its spend.
    pub async fn client_views(&self) -> Result<Vec<ClientView>, ControlError> {
        let rows = self.store.list_clients().await?;
        let logged = self.logged_spend().await?;
        Ok(rows
            .iter()
            .map(|r| self.clients.view(r, logged.as_ref()))
            .collect())
    }

    pub async fn client_view(&self, name: &str) -> Result<ClientView, ControlError> {
        let logged = self.logged_spend().await?;
        self.store
            .list_clients()
            .await?
            .iter()
            .find(|r| r.name == name)
            .map(|r| self.clients.view(r, logged.as_ref()))
            .ok_or_else(|| ControlError::not_found(format!("client {name}")))
    }

    /// Team mode: what every instance has logged for each client this day and this month
    /// (`None` on SQLite, where this process counts every request itself).
    async fn logged_spend(&self) -> Result<Option<LoggedSpend>, ControlError> {
        if self.store.backend() != Backend::Postgres {
            return Ok(None);
        }
        let (day, month) = period_starts(self.clients.now_ms());
        Ok(Some(LoggedSpend {
            day: self.store.client_spend_since(day).await?,
            month: self.store.client_spend_since(month).await?,
        }))
    }

    /// Creates a client with one new access key, returned this once.
    pub async fn create_client(&self, input: ClientInput) -> Result<NewClientSecret, ControlError> {
        validate_name(&input.name)?;
        let settings = input.settings()?;
        let (key, stored) = new_key();
        let key_id = self
            .edit(async |store| store.create_client(&input.name, &settings, &stored).await)
            .await?;
        let client = self.client_view(&input.name).await?;
        tracing::info!(client = %input.name, "client created");
        Ok(NewClientSecret {
            client,
            key: key.expose().to_owned(),
            key_id,
        })
    }

    /// Replaces a client's settings (the name stays).
    pub async fn update_client(
        &self,
        name: &str,
        input: ClientInput,
    ) -> Result<ClientView, ControlError> {
        let settings = input.settings()?;
        self.edit(async |store| store.update_client(name, &settings).await)
            .await?;
        self.client_view(name).await
    }

    /// Deletes a client and its keys; its requests stay in the log under its name. The
    /// default client (holder of the local access keys) cannot be deleted.
    pub async fn delete_client(&self, name: &str) -> Result<(), ControlError> {
        if name == DEFAULT_CLIENT {
            return Err(ControlError::Refused(
                "The default client holds the local access key and cannot be deleted; disable it instead.".into(),
            ));
        }
        self.edit(async |store| store.delete_client(name).await)
            .await?;
        tracing::info!(client = %name, "client deleted");
        Ok(())
    }

    /// Adds a new access key to a client, returned this once.
    pub async fn add_client_key(&self, name: &str) -> Result<NewClientSecret, ControlError> {
        let (key, stored) = new_key();
        let key_id = self
            .edit(async |store| store.add_client_key(name, &stored).await)
            .await?;
        Ok(NewClientSecret {
            client: self.client_view(name).await?,
            key: key.expose().to_owned(),
            key_id,
        })
    }

    /// Revokes one of a client's keys: it stops working at once.
    pub async fn revoke_client_key(
        &self,
        name: &str,
        key_id: i64,
    ) -> Result<ClientView, ControlError> {
        self.edit(async |store| store.delete_client_key(name, key_id).await)
            .await?;
        self.client_view(name).await
    }

    /// A new access key for the client named `name`, which is created when missing:
    /// configuring an AI tool gives it a client of its own, so its usage is its own.
    pub async fn issue_client_key(&self, name: &str) -> Result<NewClientSecret, ControlError> {
        let input = ClientInput {
            name: name.to_owned(),
            ..ClientInput::default()
        };
        match self.create_client(input).await {
            Err(ControlError::Conflict(_)) => self.add_client_key(name).await,
            other => other,
        }
    }
}
