import type { OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import type { Readable } from 'node:stream';
import type { TransferSettings } from '../config/transfer-settings.js';
import {
  Credentials,
  type ProjectBody,
  type ProjectObject,
  type TransferOptions,
  type UploadOptions,
} from '../credentials.js';
import { StorageUnavailableError } from '../errors.js';
import { ProjectStorage } from '../project/project-storage.js';
import type { ObjectStore } from '../store/object-store.js';

/**
 * A backend that keeps projects in an `ObjectStore`: the project rules live in
 * `ProjectStorage`, the subclass only says how to build its store (loaded lazily, so only
 * the chosen backend's SDK is imported) and how to get a registry token.
 */
export abstract class StoreBackedCredentials
  extends Credentials
  implements OnModuleInit, OnModuleDestroy
{
  #storage?: Promise<ProjectStorage>;
  #destroyed = false;

  protected abstract readonly bucketName: string;
  protected abstract readonly transfer: TransferSettings;

  /** Builds the store; called once, on module init or on first use. Must not contact servers. */
  protected abstract createStore(): Promise<ObjectStore>;

  /**
   * Loads the SDK at startup, so that a missing peer package fails before the app listens, and
   * sweeps the spool files an earlier process left behind.
   */
  async onModuleInit(): Promise<void> {
    await (await this.projects()).sweepSpoolDir();
  }

  async onModuleDestroy(): Promise<void> {
    this.#destroyed = true;
    const storage = this.#storage;
    this.#storage = undefined;
    if (storage) await (await storage).close();
  }

  async uploadProject(
    projectName: string,
    project: ProjectBody,
    options?: UploadOptions,
  ): Promise<ProjectObject> {
    return (await this.projects()).upload(projectName, project, options);
  }

  async downloadProject(
    bucketName: string,
    projectName: string,
    options?: TransferOptions,
  ): Promise<Readable> {
    return (await this.projects()).download(bucketName, projectName, options);
  }

  override async getProjectDownloadUrl(
    bucketName: string,
    projectName: string,
    ttlSeconds: number,
  ): Promise<string> {
    return (await this.projects()).presignDownload(bucketName, projectName, ttlSeconds);
  }

  override async checkStorage(): Promise<void> {
    await (await this.projects()).checkBucket();
  }

  private projects(): Promise<ProjectStorage> {
    if (this.#destroyed) {
      return Promise.reject(
        new StorageUnavailableError('The credentials module has been shut down (onModuleDestroy)'),
      );
    }
    this.#storage ??= this.createStore().then(
      (store) => new ProjectStorage(store, this.bucketName, this.transfer),
    );
    return this.#storage;
  }
}
